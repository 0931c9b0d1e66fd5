// tests/data/cifar_test.cpp: CIFAR-10 / CIFAR-100 binary loaders on generated batch files.
#include "data/data_fixtures.h"
#include "snnkit/data/dataset.h"

#include <gtest/gtest.h>

using namespace snnkit_test;
using snnkit::dataset;
using snnkit::split;

namespace {

// One record: label byte(s) then 3072 pixels, pixel k of record r = (r * 3 + k) & 255.
void add_record(std::vector<uint8_t> & out, std::vector<uint8_t> labels, int r) {
    out.insert(out.end(), labels.begin(), labels.end());
    for (int k = 0; k < 3072; ++k) out.push_back(static_cast<uint8_t>((r * 3 + k) & 0xFF));
}

// Writes a CIFAR-10 layout under dir: data_batch_b holds `per_batch` records (labels (r*7) % 10, r the
// global record index), test_batch holds 3 records.
void write_cifar10(const std::string & dir, int per_batch, bool gz = false) {
    int r = 0;
    for (int b = 1; b <= 5; ++b) {
        std::vector<uint8_t> f;
        for (int i = 0; i < per_batch; ++i, ++r) add_record(f, {static_cast<uint8_t>((r * 7) % 10)}, r);
        write_bytes(dir + "/data_batch_" + std::to_string(b) + ".bin", gz ? gzip(f) : f);
    }
    std::vector<uint8_t> t;
    for (int i = 0; i < 3; ++i) add_record(t, {static_cast<uint8_t>(9 - i)}, 100 + i);
    write_bytes(dir + "/test_batch.bin", t);
}

void expect_record(const dataset & d, int64_t i, int r) {
    const uint8_t * p = d.images.data_ptr<uint8_t>() + i * 3072;
    for (int k = 0; k < 3072; k += 97) ASSERT_EQ(p[k], static_cast<uint8_t>((r * 3 + k) & 0xFF)) << "record " << i;
    // CHW: record byte 1024 is the first green pixel.
    EXPECT_EQ(d.images[i][1][0][0].item<int>(), (r * 3 + 1024) & 0xFF);
}

} // namespace

TEST(Cifar10, TrainAndTest) {
    temp_dir t;
    const std::string dir = t / "cifar-10-batches-bin";
    write_cifar10(dir, 4);
    write_bytes(dir + "/batches.meta.txt",
                std::vector<uint8_t>({'a', '\n', 'b', '\n', 'c', '\n', 'd', '\n', 'e', '\n', 'f', '\n', 'g', '\n',
                                      'h', '\n', 'i', '\n', 'j', '\n', '\n'}));
    for (const std::string & root : {dir, t.str()}) {  // the batches folder or its parent
        dataset tr = snnkit::load_cifar10_bin(root, split::train);
        ASSERT_EQ(tr.images.sizes(), (std::vector<int64_t>{20, 3, 32, 32}));
        EXPECT_EQ(tr.num_classes, 10);
        for (int r = 0; r < 20; ++r) {
            EXPECT_EQ(tr.labels[r].item<int64_t>(), (r * 7) % 10);
            expect_record(tr, r, r);
        }
        ASSERT_EQ(tr.class_names.size(), 10u);
        EXPECT_EQ(tr.class_names[0], "a");
        EXPECT_EQ(tr.class_names[9], "j");
        dataset te = snnkit::load_cifar10_bin(root, split::test);
        ASSERT_EQ(te.images.size(0), 3);
        EXPECT_EQ(te.labels[2].item<int64_t>(), 7);
        expect_record(te, 1, 101);
    }
}

TEST(Cifar10, GzippedBatchesAndDefaultNames) {
    temp_dir t;
    write_cifar10(t.str(), 2, /*gz=*/true);
    dataset tr = snnkit::load_cifar10_bin(t.str(), split::train);
    ASSERT_EQ(tr.images.size(0), 10);
    expect_record(tr, 9, 9);
    ASSERT_EQ(tr.class_names.size(), 10u);
    EXPECT_EQ(tr.class_names[0], "airplane");
    EXPECT_EQ(tr.class_names[9], "truck");
}

TEST(Cifar100, FineLabels) {
    temp_dir t;
    const std::string dir = t / "cifar-100-binary";
    std::vector<uint8_t> f;
    for (int r = 0; r < 6; ++r) add_record(f, {static_cast<uint8_t>(r % 20), static_cast<uint8_t>(r * 17 % 100)}, r);
    write_bytes(dir + "/train.bin", f);
    write_bytes(dir + "/test.bin", std::vector<uint8_t>(f.begin(), f.begin() + 2 * 3074));
    dataset tr = snnkit::load_cifar100_bin(t.str(), split::train);
    ASSERT_EQ(tr.images.sizes(), (std::vector<int64_t>{6, 3, 32, 32}));
    EXPECT_EQ(tr.num_classes, 100);
    for (int r = 0; r < 6; ++r) {
        EXPECT_EQ(tr.labels[r].item<int64_t>(), r * 17 % 100);
        expect_record(tr, r, r);
    }
    ASSERT_EQ(tr.class_names.size(), 100u);
    EXPECT_EQ(tr.class_names[0], "apple");
    EXPECT_EQ(tr.class_names[99], "worm");
    EXPECT_EQ(snnkit::load_cifar100_bin(dir, split::test).images.size(0), 2);
}

TEST(CifarErrors, BadInput) {
    temp_dir t;
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_cifar10_bin(t / "nope", split::train); }), {"nope", "not found"}));
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_cifar10_bin(t.str(), split::train); }),
                              {t.str(), "data_batch_1.bin"}));
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_cifar100_bin(t.str(), split::test); }), {t.str(), "test.bin"}));

    write_cifar10(t.str(), 2);
    std::filesystem::remove(t / "data_batch_4.bin");
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_cifar10_bin(t.str(), split::train); }),
                              {"data_batch_4.bin", "not found"}));

    // Truncated: one byte short of 2 records.
    write_cifar10(t.str(), 2);
    std::vector<uint8_t> rec;
    add_record(rec, {1}, 0);
    add_record(rec, {2}, 1);
    rec.pop_back();
    write_bytes(t / "data_batch_3.bin", rec);
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_cifar10_bin(t.str(), split::train); }),
                              {"data_batch_3.bin", "truncated", "3073"}));
    write_bytes(t / "data_batch_3.bin", {});
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_cifar10_bin(t.str(), split::train); }),
                              {"data_batch_3.bin", "empty"}));
    // Cut at a record boundary: one record fewer than its sibling files.
    rec.clear();
    add_record(rec, {1}, 0);
    write_bytes(t / "data_batch_3.bin", rec);
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_cifar10_bin(t.str(), split::train); }),
                              {"data_batch_3.bin", "holds 1 records, the other batch files 2", "truncated?"}));

    // Label out of range (10 for CIFAR-10, 100 fine for CIFAR-100).
    std::vector<uint8_t> bad;
    add_record(bad, {3}, 0);
    add_record(bad, {10}, 1);
    write_bytes(t / "test_batch.bin", bad);
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_cifar10_bin(t.str(), split::test); }),
                              {"test_batch.bin", "label 10 out of range", "record 1"}));
    std::vector<uint8_t> bad100;
    add_record(bad100, {1, 99}, 0);
    add_record(bad100, {1, 100}, 1);
    write_bytes(t / "test.bin", bad100);
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_cifar100_bin(t.str(), split::test); }),
                              {"test.bin", "label 100 out of range", "record 1"}));
    // A CIFAR-10 file read as CIFAR-100 is not a whole number of 3074-byte records.
    write_bytes(t / "test.bin", std::vector<uint8_t>(3 * 3073, 0));
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_cifar100_bin(t.str(), split::test); }), {"test.bin", "3074"}));
    // Corrupt gzip.
    auto gz = gzip(std::vector<uint8_t>(3073, 0));
    gz.resize(gz.size() - 5);
    write_bytes(t / "test_batch.bin", gz);
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_cifar10_bin(t.str(), split::test); }), {"test_batch.bin"}));
}
