#pragma once

#include "sim/simulatorconfig.h"
#include "util/result.h"

#include <QHash>
#include <QHostAddress>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QUrl>

#include <memory>

namespace Sluice {

class Clock;
class RandomSource;

/// A real HTTP/1.1 server on loopback that speaks the OpenAI `/v1/chat/completions` and Anthropic
/// `/v1/messages` shapes, with `usage`, configurable latency, injected 500s and connection resets, and
/// its own request-rate limit answering 429 with `Retry-After`, `retry-after-ms` and
/// `x-ratelimit-{limit,remaining,reset}-requests` headers (reset as a Go-style duration, e.g. "120ms").
///
/// Built on QTcpServer rather than QHttpServer: tests need socket-level faults (resets, torn bodies)
/// that a higher-level server cannot produce. The parts (library `sluice_sim`, namespace Sluice::Sim):
/// Connection (the wire: order, delays, delivery), HttpRequestReader (framing), RequestHandler (the
/// decision), Router, FaultScript (`@sim(...)`), ReplyContent (what the model says), OpenAiDialect /
/// AnthropicDialect (bodies, events, headers), OwnRateLimit (a TokenBucket), SseStream, DueQueue.
///
/// Replies: "Simulated reply to: " + the first 60 characters of the last user message, 4 characters a
/// token. A request with a non-empty `tools` array gets a call to its first tool (or the one
/// `tool_choice` names; none for `tool_choice` "none") with arguments {"text": <the user text>}:
/// OpenAI `message.tool_calls` + finish_reason "tool_calls", Anthropic a `tool_use` block + stop_reason
/// "tool_use".
///
/// Streaming: a body with `"stream": true` gets `text/event-stream` with chunked transfer encoding
/// (HTTP/1.0: unframed, then a close); keep-alive stays usable after a stream. OpenAI: a first
/// `chat.completion.chunk` whose delta carries the role (and, for a tool call, its id and name), one
/// chunk per content piece (`delta.content`, or `delta.tool_calls[0].function.arguments`), a chunk with
/// `finish_reason`, with `stream_options.include_usage` one more chunk with `"choices": []` and `usage`
/// (every other chunk then has `"usage": null`), then `data: [DONE]`. Anthropic: message_start (with
/// `usage.input_tokens`), content_block_start (text, or tool_use), ping, content_block_delta per piece
/// (`text_delta` or `input_json_delta`), content_block_stop, message_delta (`stop_reason`,
/// `usage.output_tokens`), message_stop. Timing (SimulatorConfig): the head and the opening events after
/// the usual reply delay (latencyMs + jitter + delay_ms), the first content chunk `firstTokenMs` later,
/// the next ones every `chunkIntervalMs` (on a schedule fixed when the head goes: a late wake-up does not
/// shift the chunks after it), `chunksPerReply` of them. The assembled text (or tool call),
/// finish reason and usage equal those of the same request not streamed.
///
/// Scripted faults: a request whose text contains `@sim(k=v,...)` gets a scripted answer. Keys:
/// `status=N` answer N for the first `times=M` requests carrying the same directive and text
/// (default: always); `retry_after=S` / `retry_after_ms=N` add those headers; `code=X` sets
/// `error.code` (e.g. insufficient_quota); `delay_ms=N` adds latency; `reset=1` resets the connection
/// without a reply. How the answer (the normal one, or the scripted status) goes on the wire:
/// `truncate=1` sends the headers (Content-Length announcing the whole body) and half the body, then
/// closes; `reset_mid_body=1` does the same but resets the connection (RST) 50 ms later;
/// `drip_ms=N` sends the headers, then the body one byte every N ms; `body=garbage` replaces the body
/// with HTML (not JSON); `hang=1` reads the request and never answers (nothing more is read from that
/// connection, which stays open until the client closes it); `redirect=URL` answers a 3xx (`status`
/// when it is a 3xx, else 307) with `Location: URL` (the URL cannot contain `,` or `)`). These four
/// body faults give a streamed request a whole (non-streamed) body to break. Mid-stream faults, for
/// streamed 2xx replies (counts are content chunks sent): `cut_after=N` closes the connection after N
/// chunks (no finish, usage, [DONE] / message_stop, no end of the chunked body); `error_after=N` sends
/// an error event after N chunks and ends the body (OpenAI `data: {"error": {...}}`, Anthropic
/// `event: error` with an `overloaded_error`); `stall_ms=M` pauses M ms after `stall_after=N` chunks
/// (default 0), then the stream goes on. A count beyond the reply's chunks applies before the closing
/// events. After `times` is used up, the request is answered normally. While a directive applies it
/// decides the whole answer: the own rate limit and the random error/reset rates are skipped.
///
/// TLS: after setTls(), listen() serves HTTPS (QSslServer) with that certificate and key.
///
/// Wire details: HTTP/1.1 keep-alive, pipelined requests answered in order, `Connection: close` and
/// HTTP/1.0 close after the reply. Bodies need Content-Length: `Transfer-Encoding: chunked` gets 411 and
/// the connection closed; bodies over 32 MiB get 413, headers over 64 KiB 431 (both close). Routes:
/// POST to any path ending in `/chat/completions` or `/messages`, GET `/health`; 401/400/404/405 and
/// the own-limit 429 are answered at once, everything else after latencyMs + jitter (+ delay_ms).
/// Random draws, each only when configured: reset, error, jitter.
///
/// Time (the own limit, reply delays, stream timing, drip_ms, Received::atMs) comes from the injected clock
/// (default SteadyClock::instance()); timers only wake the simulator up, and work runs once that clock
/// says it is due. Lives on the thread that created it; every method must be called from that thread.
class Simulator : public QObject
{
    Q_OBJECT

public:
    struct Stats
    {
        qint64 requests = 0;         ///< complete requests parsed
        qint64 ok = 0;               ///< 2xx sent whole (a dripped one once its last byte is out, a streamed
                                     ///< one once completed)
        qint64 rateLimited = 0;      ///< 429 sent (own limit or scripted)
        qint64 serverErrors = 0;     ///< 5xx sent
        qint64 clientErrors = 0;     ///< other 4xx sent
        qint64 redirects = 0;        ///< 3xx sent
        qint64 broken = 0;           ///< answers broken on purpose (truncated, reset mid-body, garbage body,
                                     ///< stream cut or ended by an error event); counted here instead of by
                                     ///< their status
        qint64 hangs = 0;            ///< requests never answered on purpose (hang=1)
        qint64 resets = 0;           ///< connections reset on purpose (before or in the middle of a reply)
        qint64 connections = 0;      ///< TCP connections accepted (for TLS: after the handshake)
        qint64 tlsFailures = 0;      ///< TLS handshakes that failed (e.g. the client refused the certificate)
        qint64 streamsStarted = 0;   ///< streamed replies whose head went out
        qint64 streamsCompleted = 0; ///< streamed replies sent to their end
        qint64 streamsBroken = 0;    ///< streamed replies cut or ended by an error event on purpose
                                     ///< (started − completed − broken: under way, or the client left)
    };

    /// One received request, recorded when setRecording(true).
    struct Received
    {
        double atMs = 0; ///< the clock's ms when the request was fully read
        QString path;
        QString text;          ///< the last user message's text (first 256 chars)
        QString authorization; ///< "present" or "absent" (never the key itself)
        int status = 0;        ///< status answered, 0 for a reset, -1 when never answered (hang=1)
    };

    explicit Simulator(SimulatorConfig config = {}, QObject *parent = nullptr);
    Simulator(SimulatorConfig config, RandomSource *random, QObject *parent = nullptr);
    /// `random` (may be null: a private one) and `clock` (may be null: SteadyClock::instance()) must
    /// outlive the simulator.
    Simulator(SimulatorConfig config, RandomSource *random, const Clock *clock, QObject *parent = nullptr);
    ~Simulator() override;

    /// Serves HTTPS from the next listen() on, with the PEM certificate (chain) and unencrypted PEM
    /// private key in these files. An Error when they cannot be read. Call while not listening.
    Result<void> setTls(const QString &certificatePath, const QString &keyPath);
    bool isTls() const;

    /// Starts listening; port 0 picks a free one. Returns the bound port.
    Result<quint16> listen(quint16 port = 0,
                           const QHostAddress &address = QHostAddress(QHostAddress::LocalHost));
    /// Stops listening and drops every open connection at once (replies in progress are lost).
    void close();
    quint16 port() const;
    QUrl chatUrl() const;     ///< http://127.0.0.1:PORT/v1/chat/completions (https:// with TLS)
    QUrl messagesUrl() const; ///< http://127.0.0.1:PORT/v1/messages (https:// with TLS)

    SimulatorConfig config() const { return m_config; }
    /// Takes effect for requests read from now on (streams under way keep their timing).
    void setConfig(const SimulatorConfig &config);

    Stats stats() const { return m_stats; }
    void setRecording(bool on) { m_recording = on; }
    QList<Received> received() const { return m_received; }

private:
    struct Private;

    SimulatorConfig m_config;
    Stats m_stats;
    bool m_recording = false;
    QList<Received> m_received;
    std::unique_ptr<Private> d; ///< last: its parts refer to the members above
};

} // namespace Sluice
