#include "duequeue.h"

#include "util/clock.h"

#include <QTimer>

#include <cmath>

namespace Sluice::Sim {

DueQueue::DueQueue(const Clock *clock, QObject *parent, Handler handler)
    : m_clock(clock)
    , m_timer(new QTimer(parent))
    , m_handler(std::move(handler))
{
    m_timer->setSingleShot(true);
    m_timer->setTimerType(Qt::PreciseTimer);
    QObject::connect(m_timer, &QTimer::timeout, parent, [this] { fire(); });
}

void DueQueue::schedule(double delayMs, quint64 connection, Kind kind, quint64 seq)
{
    scheduleAt(m_clock->nowMs() + delayMs, connection, kind, seq);
}

void DueQueue::scheduleAt(double dueMs, quint64 connection, Kind kind, quint64 seq)
{
    m_entries.push({dueMs, connection, kind, seq});
    arm();
}

double DueQueue::nowMs() const
{
    return m_clock->nowMs();
}

void DueQueue::clear()
{
    m_entries = {};
    m_timer->stop();
    m_armedForMs = -1;
}

void DueQueue::arm()
{
    if (m_entries.empty()) {
        m_timer->stop();
        m_armedForMs = -1;
        return;
    }
    const double next = m_entries.top().dueMs;
    if (m_timer->isActive() && m_armedForMs <= next)
        return;
    m_armedForMs = next;
    // Rounded up so that nothing leaves before its time.
    m_timer->start(std::max(0, int(std::ceil(next - m_clock->nowMs()))));
}

void DueQueue::fire()
{
    m_armedForMs = -1;
    const double nowMs = m_clock->nowMs();
    while (!m_entries.empty() && m_entries.top().dueMs <= nowMs) {
        const Entry entry = m_entries.top();
        m_entries.pop();
        m_handler(entry); // may schedule more
    }
    arm();
}

} // namespace Sluice::Sim
