// run_isolated: the child's bytes come back; its snnkit::error comes back with the same message; a crash, a
// silent exit or a hang in the child becomes one snnkit::error in the caller, which goes on working.
#include "snnkit/core/error.h"
#include "snnkit/core/isolate.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <string>
#include <unistd.h>

using namespace snnkit;

namespace {

std::string error_of(const std::function<void(std::string &)> & work, const isolate_options & opt = {}) {
    try {
        run_isolated("file.nir", work, opt);
    } catch (const error & e) {
        return e.what();
    }
    return "(no snnkit::error)";
}

} // namespace

TEST(isolate, returns_the_bytes_of_the_child_and_leaves_the_parent_unchanged) {
    int parent_value = 1;
    const std::string big(3 << 20, 'x'); // larger than a pipe buffer: the parent must read while the child writes
    const std::string got = run_isolated("file.nir", [&](std::string & out) {
        parent_value = 2;
        out = big + std::string(1, '\0') + "end";
    });
    EXPECT_EQ(got, big + std::string(1, '\0') + "end");
    EXPECT_EQ(parent_value, 1);
    EXPECT_EQ(run_isolated("f", [](std::string &) {}), ""); // an empty result is a result
}

TEST(isolate, an_error_of_the_child_keeps_its_message) {
    EXPECT_EQ(error_of([](std::string &) { fail("file.nir", "/node/type: expected one string"); }),
              "file.nir: /node/type: expected one string");
    const std::string m = error_of([](std::string &) { throw std::bad_alloc(); });
    EXPECT_EQ(m.rfind("file.nir: the child process: ", 0), 0u) << m;
}

TEST(isolate, a_crash_of_the_child_is_an_error_of_the_caller) {
    isolate_options opt;
    opt.actor = "the HDF5 library";
    const std::string segv = error_of([](std::string &) { std::raise(SIGSEGV); }, opt);
    EXPECT_EQ(segv, "file.nir: the HDF5 library crashed (SIGSEGV) reading it; the file is damaged or not what it claims");
    const std::string abrt = error_of([](std::string &) { std::abort(); }, opt);
    EXPECT_NE(abrt.find("crashed (SIGABRT)"), std::string::npos) << abrt;
    const std::string quit = error_of([](std::string &) { ::_exit(7); }, opt);
    EXPECT_EQ(quit, "file.nir: the HDF5 library failed reading it (exit status 7); the file is damaged");
    // the caller still works: a normal call after the crashes
    EXPECT_EQ(run_isolated("f", [](std::string & out) { out = "ok"; }), "ok");
}

TEST(isolate, a_child_past_its_time_limit_is_stopped) {
    isolate_options opt;
    opt.timeout_s = 1;
    const std::string m = error_of([](std::string &) { ::sleep(30); }, opt);
    EXPECT_EQ(m, "file.nir: the child process took longer than 1 s (damaged file?)");
}

TEST(isolate, the_memory_limit_stops_a_huge_allocation_in_the_child) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "not applied under ASan";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    GTEST_SKIP() << "not applied under ASan";
#endif
#endif
    isolate_options opt;
    opt.extra_memory = uint64_t(256) << 20;
    const std::string m = error_of([](std::string & out) {
        std::string big(size_t(2) << 30, 'x'); // 2 GiB
        out = big.substr(0, 1);
    }, opt);
    EXPECT_EQ(m.rfind("file.nir: the child process: ", 0), 0u) << m;
    // without a limit a child allocates normally
    opt.extra_memory = 0;
    EXPECT_EQ(run_isolated("f", [](std::string & out) { out = std::string(size_t(64) << 20, 'y').substr(0, 2); }, opt), "yy");
}
