#pragma once

#include <QMutex>
#include <QMutexLocker>

#include <utility>
#include <vector>

namespace Sluice {

/// A batch hand-off between two threads: the producer puts items in, the consumer takes them all at
/// once. put() says whether the box was empty, so the producer wakes the consumer (one queued call)
/// only on the first item of a batch: items that arrive while the consumer is busy ride along in the
/// same batch instead of costing a cross-thread event each.
template<typename T>
class Mailbox
{
public:
    /// Adds an item; true when the box was empty (the caller should wake the consumer).
    bool put(T &&item)
    {
        QMutexLocker lock(&m_mutex);
        m_items.push_back(std::move(item));
        return m_items.size() == 1;
    }

    /// Every item put since the last take, in order.
    std::vector<T> takeAll()
    {
        std::vector<T> items;
        QMutexLocker lock(&m_mutex);
        items.swap(m_items);
        return items;
    }

private:
    QMutex m_mutex;
    std::vector<T> m_items;
};

} // namespace Sluice
