#include "streamreader.h"

#include "net/classifier.h"
#include "net/provideradapter.h"
#include "net/streamrelay.h"

namespace Sluice {

double StreamStats::outputTokensPerS(qint64 outputTokens) const
{
    const double spanMs = lastContentMs - ttftMs;
    if (outputTokens < 2 || contentEvents < 2 || ttftMs < 0 || spanMs <= 0) {
        return -1;
    }
    return double(outputTokens - 1) * 1000.0 / spanMs;
}

StreamReader::StreamReader(Provider dialect, std::shared_ptr<StreamRelay> relay, double startMs,
                           qint64 createdS)
    : m_dialect(dialect)
    , m_relay(std::move(relay))
    , m_startMs(startMs)
    , m_assembler(dialect)
{
    m_stats.streamed = true;
    if (m_relay) {
        m_translator.emplace(dialect, m_relay->dialect(), m_relay->includeUsage(), createdS);
    }
}

StreamReader::~StreamReader() = default;

void StreamReader::read(QByteArrayView bytes, double nowMs)
{
    if (bytes.isEmpty() || m_failedEarly) {
        return;
    }
    m_events.clear();
    if (!m_parser.feed(bytes, m_events)) {
        m_failedEarly = true;
    }
    QByteArray out;
    for (const SseParser::Event &event : m_events) {
        const StreamAssembler::Kind kind = m_assembler.take(event);
        if (kind == StreamAssembler::Kind::Content) {
            const double atMs = nowMs - m_startMs;
            if (m_stats.ttftMs < 0) {
                m_stats.ttftMs = atMs;
            } else {
                m_stats.gapsMs.push_back(float(atMs - m_stats.lastContentMs));
            }
            m_stats.lastContentMs = atMs;
        }
        if (m_translator) {
            m_translator->take(kind, event, m_assembler, out);
        }
    }
    m_stats.contentEvents = m_assembler.contentEvents();
    if (!m_relay || out.isEmpty()) {
        return;
    }
    if (m_stats.ttftMs < 0) {
        m_held += out; // nothing the caller could not get again from a retry
        return;
    }
    if (!m_held.isEmpty()) {
        out.prepend(m_held);
        m_held.clear();
    }
    m_relay->push(out);
}

bool StreamReader::finish(AttemptResult &result, bool stalled)
{
    AttemptReport &r = result.report;
    m_stats.contentEvents = m_assembler.contentEvents();
    r.streamChunks = m_stats.contentEvents;
    const bool ended = r.cancelled || r.timedOut || stalled;
    if (stalled) {
        r.streamFailure = StreamFailure::Stalled;
    } else if (m_assembler.hasError()) {
        r.streamFailure = StreamFailure::ErrorEvent;
        result.body = nlohmann::json(m_assembler.errorBody());
        Classifier::readApiError(result.body, r);
    } else if (m_failedEarly || m_assembler.isInvalid()) {
        r.streamFailure = StreamFailure::Invalid;
        r.streamDetail =
            m_failedEarly
                ? QStringLiteral("an event larger than %1 bytes").arg(SseParser::DefaultMaxEventBytes)
                : m_assembler.invalidReason();
    } else if (!m_assembler.isDone()) {
        r.streamFailure = StreamFailure::Cut;
    }
    const bool complete = !ended && r.streamFailure == StreamFailure::None;
    if (complete) {
        result.bodyText = m_assembler.body();
        r.bodyComplete = true;
        if (const auto usage = ProviderAdapter::scanReply(result.bodyText, m_dialect)) {
            r.bodyIsJson = true;
            result.usage = *usage;
        }
    } else {
        // Spent all the same: what the stream reported before it failed.
        const StreamAssembler::OrderedJson reported = m_assembler.usage();
        if (reported.is_object()) {
            nlohmann::json reply = nlohmann::json::object();
            reply["usage"] = nlohmann::json(reported);
            result.usage = ProviderAdapter::usage(reply, m_dialect);
        }
    }
    if (m_relay) {
        if (complete) {
            m_relay->push(m_held);
            m_held.clear();
        }
        m_stats.committed = m_relay->endAttempt(!complete);
    }
    result.stream = std::move(m_stats);
    m_stats = StreamStats();
    return complete;
}

} // namespace Sluice
