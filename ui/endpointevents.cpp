#include "endpointevents.h"

#include <cmath>

namespace Sluice::Gui {

namespace {

bool isEjection(EndpointState state)
{
    return state == EndpointState::Unreachable || state == EndpointState::Failing ||
           state == EndpointState::Overloaded || state == EndpointState::Quota;
}

QString seconds(double ms)
{
    const qint64 s = qint64(std::llround(ms / 1000.0));
    return s < 120 ? QStringLiteral("%1 s").arg(s) : QStringLiteral("%1 min %2 s").arg(s / 60).arg(s % 60);
}

} // namespace

void EndpointEvents::reset()
{
    m_endpoints.clear();
}

QList<ChartMarker> EndpointEvents::update(const MetricsSnapshot &snapshot)
{
    QList<ChartMarker> events;
    bool sameEndpoints = m_endpoints.size() == snapshot.endpoints.size();
    for (qsizetype i = 0; sameEndpoints && i < snapshot.endpoints.size(); ++i) {
        sameEndpoints = m_endpoints.at(i).name == snapshot.endpoints.at(i).name;
    }
    if (!sameEndpoints) {
        m_endpoints.clear();
        for (const EndpointStats &e : snapshot.endpoints) {
            Endpoint tracked;
            tracked.name = e.name;
            m_endpoints.append(tracked);
        }
    }
    const double now = snapshot.elapsedMs;
    const double second = now / 1000.0;
    for (qsizetype i = 0; i < snapshot.endpoints.size(); ++i) {
        const EndpointStats &e = snapshot.endpoints.at(i);
        Endpoint &t = m_endpoints[i];
        const EndpointState before = t.state;
        t.state = e.state;
        if (e.state != before) {
            if (isEjection(e.state) && !t.ejected) {
                t.ejected = true;
                t.ejectedAtMs = now;
                const QString why = e.state == EndpointState::Quota
                                        ? QStringLiteral("quota exhausted, no more requests go there")
                                    : e.state == EndpointState::Overloaded
                                        ? QStringLiteral("overloaded (529/503), paused")
                                        : e.stateText();
                events.append(
                    {second, ChartMarker::Kind::Ejection, QStringLiteral("%1 ejected: %2").arg(e.name, why)});
            } else if (t.ejected && e.state == EndpointState::Active) {
                t.ejected = false;
                events.append({second, ChartMarker::Kind::Recovery,
                               QStringLiteral("%1 back: answering again after %2 out")
                                   .arg(e.name, seconds(now - t.ejectedAtMs))});
            } else if (t.ejected && e.state == EndpointState::Disabled) {
                t.ejected = false; // switched off by the operator: no recovery to report
            }
        }
        // 429 storms: the 429s of the last second, from the differences between snapshots.
        const qint64 fresh = std::max<qint64>(0, e.rateLimited - t.rateLimited);
        t.rateLimited = e.rateLimited;
        t.recent429.append({now, fresh});
        while (!t.recent429.isEmpty() && t.recent429.first().first <= now - 1000.0) {
            t.recent429.removeFirst();
        }
        qint64 lastSecond = 0;
        for (const auto &[at, count] : std::as_const(t.recent429)) {
            lastSecond += count;
        }
        if (double(lastSecond) >= StormPerSecond) {
            if (!t.storming && now - t.lastStormMs >= StormQuietMs) {
                events.append({second, ChartMarker::Kind::RateLimitStorm,
                               QStringLiteral("429 storm on %1: %2 answered 429 within a second (%3 so far)")
                                   .arg(e.name)
                                   .arg(lastSecond)
                                   .arg(e.rateLimited)});
            }
            t.storming = true;
            t.lastStormMs = now;
        } else if (now - t.lastStormMs >= StormQuietMs) {
            t.storming = false;
        }
    }
    return events;
}

} // namespace Sluice::Gui
