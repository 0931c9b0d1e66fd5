// tests/core/intra_op_threads.h: at::set_num_threads(n) for a scope, the count before restored at its end (also
// when an ASSERT returns early), so that one test's thread count does not leak into the next.
#pragma once

#include <ATen/Parallel.h>

namespace snnkit_test {

class intra_op_threads {
  public:
    explicit intra_op_threads(int n) : before_(at::get_num_threads()) { at::set_num_threads(n); }
    ~intra_op_threads() { at::set_num_threads(before_); }
    intra_op_threads(const intra_op_threads &) = delete;
    intra_op_threads & operator=(const intra_op_threads &) = delete;

  private:
    int before_;
};

} // namespace snnkit_test
