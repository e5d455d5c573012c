// The agent's configuration: the Config value type and everything that reads
// it from the environment and the command line. One include for the users of
// the whole; each part has its own header under resec/config/:
//
//   config.h          Config, ConsulClientConfig, LogFormat (the defaults)
//   parse.h           ParseConfig, the environment and file reader it takes
//   settings_table.h  the one table of settings: variable, flag, help, field
//   host_port.h       HostPort and its parser
//   durations.h       Go's duration syntax
//   text.h            quoting for error lines, LOG_LEVEL's names
//
// Thread-safety: see each part (value types and pure functions).
#pragma once

#include "resec/config/config.h"
#include "resec/config/durations.h"
#include "resec/config/host_port.h"
#include "resec/config/parse.h"
#include "resec/config/text.h"
