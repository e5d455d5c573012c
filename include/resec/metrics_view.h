// MakeMetricsView: the one place that knows both the agent's state board and
// the metrics module. When the shape of the agent's state changes, this
// translation is all that changes; Metrics and the state server do not.
//
// Thread-safety: a pure function of its argument.
#pragma once

#include "resec/metrics.h"
#include "resec/reconciler.h"

namespace resec {

MetricsView MakeMetricsView(const BoardSnapshot& snap);

}  // namespace resec
