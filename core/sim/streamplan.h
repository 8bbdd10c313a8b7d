#pragma once

#include <QByteArray>

#include <vector>

namespace Sluice::Sim {

/// Everything a streamed (server-sent events) reply will send, decided when its request is handled.
/// Events are complete SSE events ("data: ...\n\n"); SseStream frames and times them.
struct StreamPlan
{
    QByteArray head;                 ///< status line and headers
    bool chunked = true;             ///< chunked framing (false for HTTP/1.0: the close ends the body)
    std::vector<QByteArray> opening; ///< sent with the head (OpenAI: the role chunk; Anthropic:
                                     ///< message_start, content_block_start, ping)
    std::vector<QByteArray> deltas;  ///< one event per content chunk
    std::vector<QByteArray> closing; ///< after the last delta (finish, usage, [DONE] / message_stop)
    QByteArray errorEvent;           ///< sent instead of the rest at `errorAfter`
    double firstTokenMs = 0;         ///< from the opening events to the first delta
    double chunkIntervalMs = 0;      ///< between two deltas
    qint64 cutAfter = -1;            ///< close the connection after this many deltas (-1: never)
    qint64 errorAfter = -1;          ///< send errorEvent after this many deltas and end (-1: never)
    qint64 stallAfter = -1;          ///< wait stallMs more after this many deltas (-1: never)
    double stallMs = 0;
};

} // namespace Sluice::Sim
