#pragma once

#include "io/requestsource.h"

#include <QtGlobal>

#include <deque>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace Sluice {

/// The gateway's waiting room: a bounded FIFO per priority, feeding a serving Engine (RequestSource).
///
/// Requests are keyed by `Request::line`, which the gateway sets to a unique caller id. next() hands
/// out the oldest request of the highest priority. A request stays "wanted" from push() until
/// forget(): the gateway forgets a request when its caller is answered, left, or ran out of time, and
/// the engine then drops it instead of sending it (also when it already took it from the queue, e.g.
/// to wait for a rate-limit slot or for a retry). Memory is bounded by `capacity` waiting requests plus
/// those the engine holds.
///
/// Engine-thread only (the gateway and its engine share a thread).
class CallerQueue : public RequestSource
{
public:
    static constexpr int MinPriority = 0;
    static constexpr int MaxPriority = 9;
    static constexpr int DefaultPriority = 5;

    explicit CallerQueue(int capacity);

    int capacity() const { return m_capacity; }
    /// Waiting requests (not yet taken by the engine).
    qint64 size() const { return m_size; }
    bool isFull() const { return m_size >= m_capacity; }

    /// Queues `request` (its `line` a unique id) behind every request of the same or higher priority
    /// (clamped to [MinPriority, MaxPriority]; higher goes first). False, and nothing queued, when full.
    bool push(Request request, int priority);
    /// The request with this id is no longer wanted: removed if still waiting, dropped by the engine if
    /// it holds it. True when it was still waiting here (never taken by the engine).
    bool forget(qint64 id);
    /// Whether the request with this id is still waiting here.
    bool isWaiting(qint64 id) const;

    Item next() override;
    bool isWanted(const Request &request) const override;
    /// Puts a request the engine took back at the head of its priority (it was the oldest there).
    bool giveBack(Request &request) override;
    qint64 backlog() const override { return m_size; }

private:
    struct Entry
    {
        Request request;
        bool live = true;
    };

    int m_capacity;
    qint64 m_size = 0;
    /// Highest priority first; within one, arrival order. forget() marks an entry dead where it sits
    /// (next() skips it; dead entries are compacted when they outnumber live ones).
    std::map<int, std::deque<Entry>, std::greater<>> m_queues;
    std::unordered_set<qint64> m_waiting;     ///< ids in m_queues that are live
    std::unordered_map<qint64, int> m_wanted; ///< priority of each request pushed and not forgotten
                                              ///< (waiting here or held by the engine)
    qint64 m_dead = 0;                        ///< dead entries still in m_queues
};

} // namespace Sluice
