#pragma once

#include <QtGlobal>

#include <functional>
#include <queue>
#include <vector>

class QObject;
class QTimer;

namespace Sluice {
class Clock;
}

namespace Sluice::Sim {

/// Work due later on a connection: a delayed reply, a stream's next step, a dripped byte. One precise QTimer
/// serves them all (a binary heap), so that thousands of concurrent streams cost O(log n) per step. Time
/// comes from the injected clock; the timer only wakes the queue up, and entries run once the clock
/// says they are due. Lives on its parent's thread.
class DueQueue
{
public:
    enum class Kind { Reply, Stream, Drip };
    struct Entry
    {
        double dueMs = 0;
        quint64 connection = 0;
        Kind kind = Kind::Reply;
        quint64 seq = 0; ///< the reply's sequence number, or the stream's (drip's) generation
    };
    using Handler = std::function<void(const Entry &)>;

    /// `parent` owns the timer; `handler` runs each entry once it is due.
    DueQueue(const Clock *clock, QObject *parent, Handler handler);

    /// Runs the entry `delayMs` from now.
    void schedule(double delayMs, quint64 connection, Kind kind, quint64 seq);
    /// Runs the entry at the clock's `dueMs` (at once when that has passed).
    void scheduleAt(double dueMs, quint64 connection, Kind kind, quint64 seq);
    double nowMs() const;
    void clear();

private:
    struct Later
    {
        bool operator()(const Entry &a, const Entry &b) const { return a.dueMs > b.dueMs; }
    };
    void arm();
    void fire();

    const Clock *m_clock;
    QTimer *m_timer;
    Handler m_handler;
    std::priority_queue<Entry, std::vector<Entry>, Later> m_entries;
    double m_armedForMs = -1; ///< due time the timer is armed for, -1 when idle
};

} // namespace Sluice::Sim
