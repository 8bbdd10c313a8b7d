#include "ssestream.h"

#include "sim/httpresponse.h"

namespace Sluice::Sim {

SseStream::SseStream(StreamPlan plan)
    : m_plan(std::move(plan))
{
}

SseStream::Step SseStream::start()
{
    QByteArray bytes = m_plan.head;
    for (const QByteArray &event : m_plan.opening)
        bytes.append(frame(event));
    return {std::move(bytes), waitBefore(0), End::None};
}

SseStream::Step SseStream::next()
{
    const auto sent = qint64(m_next);
    if (sent == m_plan.cutAfter)
        return {{}, 0, End::Cut};
    if (sent == m_plan.errorAfter) {
        QByteArray bytes = frame(m_plan.errorEvent);
        bytes.append(endOfBody());
        return {std::move(bytes), 0, End::Failed};
    }
    if (m_next >= m_plan.deltas.size()) {
        QByteArray bytes;
        for (const QByteArray &event : m_plan.closing)
            bytes.append(frame(event));
        bytes.append(endOfBody());
        return {std::move(bytes), 0, End::Completed};
    }
    QByteArray bytes = frame(m_plan.deltas[m_next]);
    ++m_next;
    return {std::move(bytes), waitBefore(m_next), End::None};
}

QByteArray SseStream::frame(const QByteArray &event) const
{
    return m_plan.chunked ? httpChunk(event) : event;
}

QByteArray SseStream::endOfBody() const
{
    return m_plan.chunked ? QByteArray(kLastChunk) : QByteArray();
}

double SseStream::waitBefore(std::size_t delta) const
{
    double ms = 0;
    if (delta == 0)
        ms = m_plan.firstTokenMs;
    else if (delta < m_plan.deltas.size())
        ms = m_plan.chunkIntervalMs;
    if (qint64(delta) == m_plan.stallAfter)
        ms += m_plan.stallMs;
    return ms;
}

} // namespace Sluice::Sim
