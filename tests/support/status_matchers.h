// ASSERT_OK / EXPECT_OK for resec::Status and resec::StatusOr<T>; on failure
// they print the expression and the status ("PERMISSION_DENIED: ...").
//
// Thread-safety: as gtest's assertions.
#pragma once

#include <gtest/gtest.h>

#include "resec/status.h"

namespace resec::testing {

inline ::testing::AssertionResult StatusIsOk(const char* expr, const Status& status) {
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << expr << " is not OK: " << status.ToString();
}

template <typename T>
::testing::AssertionResult StatusIsOk(const char* expr, const StatusOr<T>& value) {
  if (value.ok()) return ::testing::AssertionSuccess();
  return StatusIsOk(expr, value.status());
}

}  // namespace resec::testing

#define ASSERT_OK(expr) ASSERT_PRED_FORMAT1(::resec::testing::StatusIsOk, expr)
#define EXPECT_OK(expr) EXPECT_PRED_FORMAT1(::resec::testing::StatusIsOk, expr)
