#pragma once

#include "sim/streamplan.h"

namespace Sluice::Sim {

/// Walks a StreamPlan: what to write now, how long to wait before the next step, and how the stream
/// ends. Timing: the head and opening events first; the first delta `firstTokenMs` later; each further
/// delta `chunkIntervalMs` after the one before; the closing events right after the last delta. A
/// scripted stall adds `stallMs` to the wait after `stallAfter` deltas; a cut or an error event takes
/// the place of delta number `cutAfter` / `errorAfter` (or of the closing events), at its time. The
/// caller schedules each step a wait after the previous step was due (not after it went out), so the
/// schedule does not drift when wake-ups are late.
class SseStream
{
public:
    enum class End {
        None,      ///< more to come after the wait
        Completed, ///< every event and the end of the body sent
        Cut,       ///< stop here and close the connection (nothing more is written)
        Failed,    ///< the error event and the end of the body sent
    };
    struct Step
    {
        QByteArray bytes;  ///< to write now (framed)
        double waitMs = 0; ///< before the next step (End::None only)
        End end = End::None;
    };

    explicit SseStream(StreamPlan plan);

    /// The head and the opening events.
    Step start();
    /// The next delta, or the end.
    Step next();

private:
    QByteArray frame(const QByteArray &event) const;
    QByteArray endOfBody() const;
    double waitBefore(std::size_t delta) const;

    StreamPlan m_plan;
    std::size_t m_next = 0; ///< deltas sent
};

} // namespace Sluice::Sim
