#pragma once

#include "util/result.h"

#include <QHash>
#include <QHostAddress>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QUrl>

#include <memory>

class QTcpServer;
class QTcpSocket;

namespace Sluice {

class RandomSource;

/// Behaviour of the simulated LLM endpoint. Every field can be changed while it runs (setConfig).
struct SimulatorConfig
{
    int latencyMs = 0;    ///< base reply delay
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
};

/// A real HTTP/1.1 server on loopback that speaks the OpenAI `/v1/chat/completions` and Anthropic
/// `/v1/messages` shapes, with `usage`, configurable latency, injected 500s and connection resets, and
/// its own request-rate limit answering 429 with `Retry-After`, `retry-after-ms` and
/// `x-ratelimit-{limit,remaining,reset}-requests` headers (reset as a Go-style duration, e.g. "120ms").
///
/// Built on QTcpServer rather than QHttpServer: tests need socket-level faults (resets, torn bodies)
/// that a higher-level server cannot produce.
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
/// when it is a 3xx, else 307) with `Location: URL` (the URL cannot contain `,` or `)`).
/// After `times` is used up, the request is answered normally. While a directive applies it decides the
/// whole answer: the own rate limit and the random error/reset rates are skipped.
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
/// Lives on the thread that created it; every method must be called from that thread.
class Simulator : public QObject
{
    Q_OBJECT

public:
    struct Stats
    {
        qint64 requests = 0;     ///< complete requests parsed
        qint64 ok = 0;           ///< 2xx sent whole (a dripped one once its last byte is out)
        qint64 rateLimited = 0;  ///< 429 sent (own limit or scripted)
        qint64 serverErrors = 0; ///< 5xx sent
        qint64 clientErrors = 0; ///< other 4xx sent
        qint64 redirects = 0;    ///< 3xx sent
        qint64 broken = 0;       ///< answers broken on purpose (truncated, reset mid-body, garbage body);
                                 ///< counted here instead of by their status
        qint64 hangs = 0;        ///< requests never answered on purpose (hang=1)
        qint64 resets = 0;       ///< connections reset on purpose (before or in the middle of a reply)
        qint64 connections = 0;  ///< TCP connections accepted (for TLS: after the handshake)
        qint64 tlsFailures = 0;  ///< TLS handshakes that failed (e.g. the client refused the certificate)
    };

    /// One received request, recorded when setRecording(true).
    struct Received
    {
        double atMs = 0; ///< steady-clock ms when the request was fully read
        QString path;
        QString text;          ///< the last user message's text (first 256 chars)
        QString authorization; ///< "present" or "absent" (never the key itself)
        int status = 0;        ///< status answered, 0 for a reset, -1 when never answered (hang=1)
    };

    explicit Simulator(SimulatorConfig config = {}, QObject *parent = nullptr);
    Simulator(SimulatorConfig config, RandomSource *random, QObject *parent = nullptr);
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
    void setConfig(const SimulatorConfig &config);

    Stats stats() const { return m_stats; }
    void setRecording(bool on) { m_recording = on; }
    QList<Received> received() const { return m_received; }

private:
    struct Private;
    std::unique_ptr<Private> d;
    SimulatorConfig m_config;
    Stats m_stats;
    bool m_recording = false;
    QList<Received> m_received;
};

} // namespace Sluice
