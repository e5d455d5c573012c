// ParseInfo: INFO text -> the RedisState fields the agent decides on.
//
// Pure; tolerant of unknown fields, CRLF or LF, missing sections. Fields not
// present keep RedisState's defaults. Never throws.
#pragma once

#include <string_view>

#include "resec/state.h"

namespace resec::redis {

// Fills role, loading, replication fields and offsets; sets info to the text.
// Does not touch ready/healthy/error (the watcher decides those).
RedisState ParseInfo(std::string_view text);

}  // namespace resec::redis
