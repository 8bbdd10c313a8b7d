#pragma once

#include "charts/chartmarker.h"
#include "metrics/metrics.h"

#include <QList>
#include <QStringList>

namespace Sluice::Gui {

/// Turns changes between consecutive snapshots into the events an operator wants in the log and on the
/// charts: an endpoint ejected (unreachable, failing, overloaded, out of quota), back again, and 429
/// storms (at least StormPerSecond 429s from one endpoint within a second). The engine reports states,
/// not transitions; this is where the window notices them. GUI thread only.
class EndpointEvents
{
public:
    static constexpr double StormPerSecond = 10;
    static constexpr double StormQuietMs = 5000; ///< calm this long before a new storm is reported

    /// The events since the previous snapshot, each with its second since the start and its text.
    QList<ChartMarker> update(const Sluice::MetricsSnapshot &snapshot);
    void reset();

private:
    struct Endpoint
    {
        QString name;
        Sluice::EndpointState state = Sluice::EndpointState::Active;
        bool ejected = false;
        double ejectedAtMs = 0;
        qint64 rateLimited = 0;
        QList<std::pair<double, qint64>> recent429; ///< (elapsed ms, 429s since the previous snapshot)
        bool storming = false;
        double lastStormMs = -1e18;
    };

    QList<Endpoint> m_endpoints;
};

} // namespace Sluice::Gui
