#pragma once

#include "metrics/metrics.h"

#include <QByteArray>
#include <QString>

namespace Sluice {

/// The gateway's own caller counters (besides the engine's MetricsSnapshot).
struct GatewayCounters
{
    qint64 accepted = 0;       ///< requests queued for the engine
    qint64 answered = 0;       ///< callers answered with an upstream reply or a final error
    qint64 queueFull = 0;      ///< refused at once: 429, the queue was full
    qint64 invalid = 0;        ///< refused at once: 400/404/405/413 (never queued)
    qint64 deadlineQueued = 0; ///< 504: the caller's deadline passed while its request waited (never sent)
    qint64 deadlineSent = 0;   ///< 504: the deadline passed while the engine held it (sent, retrying, held)
    qint64 goneQueued = 0;     ///< callers that left while their request waited: never sent
    qint64 goneLater = 0;      ///< callers that left after the engine took their request
    qint64 stopped = 0;        ///< 503: the gateway stopped while they waited
    qint64 waiting = 0;        ///< callers waiting for an answer now
};

/// Renders counters in the Prometheus text exposition format (version 0.0.4), from the same
/// MetricsSnapshot the GUI charts. Metric names (all prefixed `sluice_`) are listed in the README.
class PrometheusText
{
public:
    static QByteArray render(const MetricsSnapshot &snapshot, const GatewayCounters &gateway, int maxQueue);
    /// A label value escaped as the format requires (backslash, double quote, newline).
    static QByteArray escapeLabel(const QString &value);
};

} // namespace Sluice
