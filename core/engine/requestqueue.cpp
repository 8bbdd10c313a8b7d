#include "requestqueue.h"

#include <limits>

namespace Sluice {

void Pending::addCost(double usd)
{
    costUsd += usd > 0 ? usd : 0;
    unpriced = unpriced || usd < 0;
}

Completion Pending::failureCompletion(const QString &endpointName, double latencyMs) const
{
    Completion c{endpointName, attempts, lastStatus, latencyMs, lastRequestId, lastRetryAfterMs};
    c.costUsd = completionCostUsd();
    return c;
}

bool RequestQueue::refill(RequestSource &source, std::size_t lookahead, quint64 epoch,
                          const std::function<void(const InputError &)> &rejected)
{
    int handled = 0;
    m_sourceDry = false;
    while (!m_inputDone && !m_sourceDry && m_fresh.size() < lookahead && handled < MaxLinesPerRefill) {
        RequestSource::Item item = source.next();
        ++handled;
        switch (item.kind) {
        case RequestSource::Item::Kind::Request: {
            ++m_taken;
            Pending p;
            p.request = std::move(item.request);
            p.heldEpoch = epoch;
            m_fresh.push_back(std::move(p));
            break;
        }
        case RequestSource::Item::Kind::Invalid:
            ++m_taken;
            rejected(item.error);
            break;
        case RequestSource::Item::Kind::End:
            m_inputDone = true;
            break;
        case RequestSource::Item::Kind::None:
            m_sourceDry = true;
            break;
        }
    }
    return handled >= MaxLinesPerRefill && !m_inputDone && !m_sourceDry && m_fresh.size() < lookahead;
}

void RequestQueue::giveBack(RequestSource &source)
{
    while (!m_fresh.empty() && m_fresh.back().attempts == 0 && source.giveBack(m_fresh.back().request)) {
        m_fresh.pop_back();
        --m_taken;
    }
}

void RequestQueue::releaseDue(double nowMs)
{
    while (!m_waiting.empty() && m_waiting.begin()->first <= nowMs) {
        m_ready.push_back(std::move(m_waiting.begin()->second));
        m_waiting.erase(m_waiting.begin());
    }
}

Pending *RequestQueue::head(bool retriesHeld)
{
    if (!m_ready.empty() && !retriesHeld) {
        return &m_ready.front();
    }
    return m_fresh.empty() ? nullptr : &m_fresh.front();
}

Pending RequestQueue::takeHead(bool retriesHeld)
{
    std::deque<Pending> &queue = !m_ready.empty() && !retriesHeld ? m_ready : m_fresh;
    Pending p = std::move(queue.front());
    queue.pop_front();
    return p;
}

double RequestQueue::nextDueMs() const
{
    return m_waiting.empty() ? std::numeric_limits<double>::infinity() : m_waiting.begin()->first;
}

std::vector<Pending> RequestQueue::drainRetries()
{
    std::vector<Pending> out;
    out.reserve(m_waiting.size() + m_ready.size());
    for (Pending &p : m_ready) {
        out.push_back(std::move(p));
    }
    m_ready.clear();
    for (auto &[due, p] : m_waiting) {
        out.push_back(std::move(p));
    }
    m_waiting.clear();
    return out;
}

std::vector<Pending> RequestQueue::drainFresh()
{
    std::vector<Pending> out(std::make_move_iterator(m_fresh.begin()),
                             std::make_move_iterator(m_fresh.end()));
    m_fresh.clear();
    return out;
}

} // namespace Sluice
