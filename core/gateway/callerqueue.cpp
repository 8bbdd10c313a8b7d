#include "callerqueue.h"

#include <algorithm>

namespace Sluice {

CallerQueue::CallerQueue(int capacity)
    : m_capacity(std::max(1, capacity))
{
}

bool CallerQueue::push(Request request, int priority)
{
    if (isFull()) {
        return false;
    }
    const qint64 id = request.line;
    priority = std::clamp(priority, MinPriority, MaxPriority);
    m_queues[priority].push_back(Entry{std::move(request), true});
    m_waiting.insert(id);
    m_wanted.emplace(id, priority);
    ++m_size;
    wake();
    return true;
}

bool CallerQueue::forget(qint64 id)
{
    m_wanted.erase(id);
    if (m_waiting.erase(id) == 0) {
        return false;
    }
    --m_size;
    // Mark it dead where it sits; next() skips it. Compact when dead entries outnumber live ones, so a
    // stream of callers that leave cannot grow the queue while nothing is taken from it.
    for (auto &[priority, queue] : m_queues) {
        Q_UNUSED(priority);
        for (auto it = queue.rbegin(); it != queue.rend(); ++it) {
            if (it->live && it->request.line == id) {
                it->live = false;
                ++m_dead;
                break;
            }
        }
    }
    if (m_dead > 64 && m_dead > m_size) {
        for (auto &[priority, queue] : m_queues) {
            Q_UNUSED(priority);
            queue.erase(std::remove_if(queue.begin(), queue.end(), [](const Entry &e) { return !e.live; }),
                        queue.end());
        }
        m_dead = 0;
    }
    return true;
}

bool CallerQueue::isWaiting(qint64 id) const
{
    return m_waiting.count(id) > 0;
}

RequestSource::Item CallerQueue::next()
{
    Item item;
    for (auto &[priority, queue] : m_queues) {
        Q_UNUSED(priority);
        while (!queue.empty()) {
            Entry entry = std::move(queue.front());
            queue.pop_front();
            if (!entry.live) {
                --m_dead;
                continue;
            }
            m_waiting.erase(entry.request.line);
            --m_size;
            item.kind = Item::Kind::Request;
            item.request = std::move(entry.request);
            return item;
        }
    }
    item.kind = Item::Kind::None;
    return item;
}

bool CallerQueue::isWanted(const Request &request) const
{
    return m_wanted.count(request.line) > 0;
}

bool CallerQueue::giveBack(Request &request)
{
    const auto wanted = m_wanted.find(request.line);
    if (wanted == m_wanted.end()) {
        return false; // forgotten meanwhile: the engine drops it
    }
    const qint64 id = request.line;
    m_queues[wanted->second].push_front(Entry{std::move(request), true});
    m_waiting.insert(id);
    ++m_size;
    return true;
}

} // namespace Sluice
