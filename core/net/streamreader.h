#pragma once

#include "config/projectconfig.h"
#include "net/attempt.h"
#include "net/sseparser.h"
#include "net/streamassembler.h"
#include "net/streamtranslator.h"

#include <QByteArrayView>

#include <memory>
#include <optional>

namespace Sluice {

class StreamRelay;

/// Reads one streamed (SSE) reply as its bytes arrive, on the transport thread: parses the events
/// (SseParser), assembles the reply (StreamAssembler), times the content events (TTFT, the gaps between
/// them), and, for a gateway caller, writes the events in the caller's dialect to its StreamRelay.
/// What it gives the caller is held back until the first content event (or the end), so an attempt
/// that fails before any content can still be retried unseen.
///
/// finish() ends the attempt: a stream that reached `[DONE]` / message_stop becomes a 2xx result
/// whose body is the assembled reply and whose usage is read from it (ProviderAdapter::scanReply,
/// as for unstreamed replies); any other end is a failed attempt (StreamFailure), whose reported usage
/// still comes back (spent tokens). Times are the transport clock's ms; `startMs` is the send.
class StreamReader
{
public:
    StreamReader(Provider dialect, std::shared_ptr<StreamRelay> relay, double startMs, qint64 createdS);
    ~StreamReader();

    /// Body bytes that arrived at `nowMs`.
    void read(QByteArrayView bytes, double nowMs);
    /// The attempt ended (its reply finished, or was aborted: `stalled` when for a stall). Fills the
    /// result's stream stats, body, usage and report (streamFailure, streamChunks, the error event's
    /// API error fields); returns whether it completed.
    bool finish(AttemptResult &result, bool stalled);

    const StreamAssembler &assembler() const { return m_assembler; }

private:
    Provider m_dialect;
    std::shared_ptr<StreamRelay> m_relay;
    std::optional<StreamTranslator> m_translator;
    double m_startMs;
    SseParser m_parser;
    StreamAssembler m_assembler;
    std::vector<SseParser::Event> m_events; ///< reused between reads
    StreamStats m_stats;
    QByteArray m_held;          ///< for the relay, before the first content event
    bool m_failedEarly = false; ///< the parser refused the body (an event over the size limit)
};

} // namespace Sluice
