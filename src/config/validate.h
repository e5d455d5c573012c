// Validation of a parsed Config: each setting's bounds from the settings
// table, and the rules that tie settings together (tag mode needs
// MASTER_TAGS, ...). Pure over the Config: a default Config is valid, so a
// problem can only come from a setting that was given.
//
// Thread-safety: a pure function.
#pragma once

#include <vector>

#include "report.h"

namespace resec::config {

std::vector<Problem> ValidateConfig(const Config& config);

}  // namespace resec::config
