#pragma once

#include <QString>

namespace Sluice {

/// Behaviour of the simulated LLM endpoint. Every field can be changed while it runs
/// (Simulator::setConfig); streams already under way keep the timing they started with.
struct SimulatorConfig
{
    int latencyMs = 0;    ///< base reply delay (for a streamed reply: until its head and opening events)
    int jitterMs = 0;     ///< uniform extra delay in [0, jitterMs]
    double rps = 0;       ///< own request-rate limit (requests/s); 0 = unlimited. Beyond it: 429
    int burst = 0;        ///< requests allowed at once above the smooth rate (bucket capacity);
                          ///< 0 = max(1, rps / 10)
    double errorRate = 0; ///< share of requests answered 500
    double resetRate = 0; ///< share of connections reset (closed without any reply)
    QString model = QStringLiteral("sluice-sim-1"); ///< echoed when the request names none
    QString requireKey;           ///< when set, a request whose bearer/x-api-key differs gets 401
    bool rateLimitHeaders = true; ///< send x-ratelimit-* / anthropic-ratelimit-* (off: a silent limiter)
    bool quotaExhausted = false;  ///< answer every request 429 insufficient_quota (billing exhausted)
    /// Streamed replies (`"stream": true`): ms from the opening events to the first content chunk.
    int firstTokenMs = 0;
    /// Streamed replies: ms between two content chunks.
    int chunkIntervalMs = 0;
    /// Content chunks per streamed reply; 0 = one per token (4 characters) of the reply. When set, a
    /// text reply shorter than 4 characters per chunk is lengthened with " sim" words, streamed or not,
    /// so that both forms of a reply stay equal.
    int chunksPerReply = 0;
};

} // namespace Sluice
