#include "streamrelay.h"

namespace Sluice {

StreamRelay::StreamRelay(Provider dialect, bool includeUsage, std::function<void()> notify)
    : m_dialect(dialect)
    , m_includeUsage(includeUsage)
    , m_notify(std::move(notify))
{
}

void StreamRelay::beginAttempt(int endpoint)
{
    QMutexLocker lock(&m_mutex);
    if (!m_committed) {
        m_pending.clear();
    }
    m_endpoint = endpoint;
    m_requestId.clear();
}

void StreamRelay::setRequestId(const QString &requestId)
{
    QMutexLocker lock(&m_mutex);
    m_requestId = requestId;
}

void StreamRelay::push(const QByteArray &bytes)
{
    if (bytes.isEmpty()) {
        return;
    }
    QMutexLocker lock(&m_mutex);
    if (m_detached) {
        return;
    }
    m_pending += bytes;
    if (!m_notified && m_notify) {
        m_notified = true;
        m_notify(); // under the lock: detach() cannot pull the owner away meanwhile
    }
}

bool StreamRelay::endAttempt(bool failed)
{
    QMutexLocker lock(&m_mutex);
    if (failed && !m_committed) {
        m_pending.clear(); // never shown: the next attempt starts afresh
    }
    return m_committed;
}

StreamRelay::Taken StreamRelay::take()
{
    QMutexLocker lock(&m_mutex);
    Taken t;
    m_notified = false;
    if (m_pending.isEmpty()) {
        return t;
    }
    t.bytes.swap(m_pending);
    t.first = !m_committed;
    t.endpoint = m_endpoint;
    t.requestId = m_requestId;
    m_committed = true;
    return t;
}

bool StreamRelay::isCommitted() const
{
    QMutexLocker lock(&m_mutex);
    return m_committed;
}

void StreamRelay::detach()
{
    QMutexLocker lock(&m_mutex);
    m_detached = true;
    m_notify = nullptr;
    m_pending.clear();
}

} // namespace Sluice
