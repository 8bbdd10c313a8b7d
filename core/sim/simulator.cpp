#include "simulator.h"

#include "util/clock.h"
#include "util/randomsource.h"

#include <QDateTime>
#include <QFile>
#include <QLoggingCategory>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslKey>
#include <QSslServer>
#include <QSslSocket>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#ifdef Q_OS_UNIX
#include <sys/socket.h>
#endif

namespace Sluice {

Q_LOGGING_CATEGORY(lcSim, "sluice.sim")

namespace {

using json = nlohmann::json;

constexpr qsizetype kMaxHeaderBytes = 64 * 1024;
constexpr qint64 kMaxBodyBytes = 32LL * 1024 * 1024;
constexpr int kMaxJsonDepth = 64;
constexpr qsizetype kReplyPreviewChars = 60;
constexpr qsizetype kRecordedTextChars = 256;
/// Replies a connection may have waiting (pipelined requests); beyond that we stop reading from it so
/// that TCP pushes back instead of our memory growing.
constexpr std::size_t kMaxPendingReplies = 256;
constexpr qint64 kSocketReadBuffer = 256 * 1024;
/// Buffers above this capacity are released once empty (a 32 MiB body should not stay pinned).
constexpr qsizetype kKeptBufferCapacity = 1024 * 1024;
/// A reset mid-body waits this long after the partial reply, so that the client has read it before
/// the RST arrives (a RST can make the peer's kernel drop data it has not read yet).
constexpr int kResetMidBodyDelayMs = 50;
constexpr int kTlsHandshakeTimeoutMs = 5000;
/// The body a `body=garbage` reply carries instead of JSON (what a misconfigured proxy might send).
constexpr char kGarbageBody[] = "<html><body><h1>502 Bad Gateway</h1>simulated non-JSON body</body></html>\n";

enum class Api { Chat, Messages };

/// Byte range inside the current request, relative to its first byte, so that it survives buffer
/// compaction and reallocation while the body is still arriving.
struct Span
{
    qsizetype offset = 0;
    qsizetype length = 0;
};

struct RequestHead
{
    Span method;
    Span target;
    Span authorization;
    Span apiKey;
    qsizetype headerBytes = 0; ///< request line + headers + blank line
    qint64 contentLength = 0;
    bool hasAuthorization = false;
    bool hasApiKey = false;
    bool keepAlive = true;
    bool chunked = false;
    bool expectContinue = false;
};

/// How a reply is put on the wire (scripted faults beyond the status and body).
enum class Delivery {
    Whole,        ///< written at once
    Reset,        ///< nothing written; the connection is closed
    Truncate,     ///< headers and half the body (Content-Length announces all of it), then a close
    ResetMidBody, ///< headers and half the body, then a TCP reset
    Drip,         ///< headers at once, then the body one byte every `dripMs`
    Hang,         ///< never answered (the connection stays open until the client gives up)
};

struct PendingReply
{
    QByteArray bytes;
    int status = 0; ///< the HTTP status written (0 for Delivery::Reset, -1 for Delivery::Hang)
    Delivery delivery = Delivery::Whole;
    bool broken = false; ///< a deliberately broken answer (garbage body): not counted as ok
    int dripMs = 0;
    bool ready = false;
    bool closeAfter = false;
};

/// Per-connection state. A child of its socket, so it lives exactly as long as the socket object;
/// it is also the context object of the socket connections, which therefore die with it.
class Connection final : public QObject
{
public:
    Connection(quint64 id, QTcpSocket *socket)
        : QObject(socket)
        , id(id)
        , socket(socket)
    {
    }

    const quint64 id;
    QTcpSocket *const socket;
    QByteArray buffer;
    qsizetype pos = 0;      ///< first byte of the request being parsed
    qsizetype scanFrom = 0; ///< where the search for the end of the headers resumes
    bool haveHead = false;
    bool sentContinue = false;
    RequestHead head;
    std::deque<PendingReply> pending; ///< replies in request order, not yet written
    quint64 firstSeq = 0;             ///< sequence number of pending.front()
    bool closing = false;             ///< read no further requests; close after the queued replies
    bool gone = false;                ///< disconnected: never touch the socket again
    /// A reply being dripped: later replies wait until its last byte is out.
    QTimer *dripTimer = nullptr; ///< a child of this object
    QByteArray dripRemaining;
    qsizetype dripOffset = 0;
    int dripStatus = 0;
    bool dripBroken = false;
    bool dripCloseAfter = false;
    bool dripping = false;
};

/// A reply due at `dueMs` for request `seq` on connection `connection`.
struct Due
{
    double dueMs = 0;
    quint64 connection = 0;
    quint64 seq = 0;
    bool operator>(const Due &other) const { return dueMs > other.dueMs; }
};

/// A parsed `@sim(k=v,...)` directive.
struct Directive
{
    QByteArray key; ///< directive + full prompt text: scope of the `times` counter
    int status = 0;
    int times = -1; ///< -1: always
    qint64 retryAfterS = -1;
    qint64 retryAfterMs = -1;
    std::string code;
    qint64 delayMs = 0;
    bool reset = false;
    bool truncate = false;
    bool resetMidBody = false;
    bool garbage = false;
    bool hang = false;
    qint64 dripMs = 0;
    std::string redirect; ///< Location of a 3xx
};

/// What the prompt of a request holds, as views into the parsed JSON.
struct Prompt
{
    std::vector<std::string_view> pieces; ///< every text piece in order, system first
    std::size_t lastUserFirst = 0;        ///< pieces of the last user message: [first, first + count)
    std::size_t lastUserCount = 0;
    qint64 chars = 0;
};

QByteArrayView view(const char *request, Span span)
{
    return QByteArrayView(request + span.offset, span.length);
}

bool equalsNoCase(QByteArrayView a, const char *b)
{
    return qstrnicmp(a.data(), a.size(), b) == 0;
}

QByteArrayView trimmed(QByteArrayView v)
{
    while (!v.isEmpty() && (v.front() == ' ' || v.front() == '\t'))
        v = v.sliced(1);
    while (!v.isEmpty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r'))
        v.chop(1);
    return v;
}

/// True when the comma-separated header value lists `token` (case-insensitive).
bool hasToken(QByteArrayView value, const char *token)
{
    while (!value.isEmpty()) {
        const qsizetype comma = value.indexOf(',');
        const QByteArrayView item = trimmed(comma < 0 ? value : value.first(comma));
        if (equalsNoCase(item, token))
            return true;
        if (comma < 0)
            break;
        value = value.sliced(comma + 1);
    }
    return false;
}

qint64 utf8Length(std::string_view s)
{
    qint64 n = 0;
    for (const char c : s)
        n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
}

/// Appends at most `maxChars` code points of `s` to `out`; returns how many were appended.
qint64 appendUtf8Prefix(std::string &out, std::string_view s, qint64 maxChars)
{
    qint64 chars = 0;
    std::size_t end = 0;
    for (; end < s.size(); ++end) {
        if ((static_cast<unsigned char>(s[end]) & 0xC0) != 0x80) {
            if (chars == maxChars)
                break;
            ++chars;
        }
    }
    out.append(s.substr(0, end));
    return chars;
}

/// The first `maxChars` code points of the last user message (pieces joined by newlines).
std::string lastUserText(const Prompt &prompt, qint64 maxChars)
{
    std::string out;
    for (std::size_t i = 0; i < prompt.lastUserCount && maxChars > 0; ++i) {
        if (i > 0) {
            out.push_back('\n');
            --maxChars;
        }
        maxChars -= appendUtf8Prefix(out, prompt.pieces[prompt.lastUserFirst + i], maxChars);
    }
    return out;
}

void collectText(const json &content, std::vector<std::string_view> &out)
{
    if (content.is_string()) {
        out.emplace_back(content.get_ref<const std::string &>());
        return;
    }
    if (!content.is_array())
        return;
    for (const json &part : content) {
        if (part.is_string()) {
            out.emplace_back(part.get_ref<const std::string &>());
        } else if (part.is_object()) {
            const auto text = part.find("text");
            if (text != part.end() && text->is_string())
                out.emplace_back(text->get_ref<const std::string &>());
        }
    }
}

/// Fills `prompt` from a request body; false when the body has no usable `messages`.
bool readPrompt(const json &body, Prompt &prompt)
{
    const auto messages = body.find("messages");
    if (messages == body.end() || !messages->is_array() || messages->empty())
        return false;
    const auto system = body.find("system");
    if (system != body.end())
        collectText(*system, prompt.pieces);
    bool sawUser = false;
    for (const json &message : *messages) {
        if (!message.is_object())
            continue;
        const auto content = message.find("content");
        if (content == message.end())
            continue;
        const std::size_t first = prompt.pieces.size();
        collectText(*content, prompt.pieces);
        const auto role = message.find("role");
        const bool isUser =
            role != message.end() && role->is_string() && role->get_ref<const std::string &>() == "user";
        // The last user message, or the last message at all when there is no user message.
        if (isUser || !sawUser) {
            sawUser = sawUser || isUser;
            prompt.lastUserFirst = first;
            prompt.lastUserCount = prompt.pieces.size() - first;
        }
    }
    for (const std::string_view piece : prompt.pieces)
        prompt.chars += utf8Length(piece);
    return true;
}

bool parseInt(std::string_view text, qint64 &value)
{
    if (text.empty() || text.size() > 12)
        return false;
    qint64 v = 0;
    for (const char c : text) {
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    value = v;
    return true;
}

bool isTrue(std::string_view value)
{
    return value == "1" || value == "true";
}

std::string_view trimmedView(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

/// Looks for `@sim(...)` in the prompt; fills `directive` and returns true when found.
bool findDirective(const Prompt &prompt, Directive &directive)
{
    static constexpr std::string_view marker = "@sim(";
    for (const std::string_view piece : prompt.pieces) {
        const std::size_t start = piece.find(marker);
        if (start == std::string_view::npos)
            continue;
        const std::size_t close = piece.find(')', start);
        if (close == std::string_view::npos)
            continue;
        std::string_view args = piece.substr(start + marker.size(), close - start - marker.size());
        const std::string_view whole = piece.substr(start, close - start + 1);
        while (!args.empty()) {
            const std::size_t comma = args.find(',');
            const std::string_view item = args.substr(0, comma);
            args = comma == std::string_view::npos ? std::string_view() : args.substr(comma + 1);
            const std::size_t eq = item.find('=');
            if (eq == std::string_view::npos)
                continue;
            const std::string_view key = trimmedView(item.substr(0, eq));
            const std::string_view value = trimmedView(item.substr(eq + 1));
            qint64 n = 0;
            const bool isNumber = parseInt(value, n);
            if (key == "status" && isNumber)
                directive.status = static_cast<int>(n);
            else if (key == "times" && isNumber)
                directive.times = static_cast<int>(std::min<qint64>(n, 1 << 30));
            else if (key == "retry_after" && isNumber)
                directive.retryAfterS = n;
            else if (key == "retry_after_ms" && isNumber)
                directive.retryAfterMs = n;
            else if (key == "delay_ms" && isNumber)
                directive.delayMs = std::min<qint64>(n, 24LL * 3600 * 1000);
            else if (key == "reset")
                directive.reset = isTrue(value);
            else if (key == "code" && !value.empty())
                directive.code = std::string(value);
            else if (key == "truncate")
                directive.truncate = isTrue(value);
            else if (key == "reset_mid_body")
                directive.resetMidBody = isTrue(value);
            else if (key == "hang")
                directive.hang = isTrue(value);
            else if (key == "body")
                directive.garbage = value == "garbage";
            else if (key == "drip_ms" && isNumber)
                directive.dripMs = std::clamp<qint64>(n, 1, 60LL * 1000);
            else if (key == "redirect" && !value.empty())
                directive.redirect = std::string(value);
        }
        if (!directive.redirect.empty() && (directive.status < 300 || directive.status > 399))
            directive.status = 307;
        // 1xx, 204, 205 and 304 would break HTTP framing (they carry no body): ignored.
        const int s = directive.status;
        if (s < 200 || s > 599 || s == 204 || s == 205 || s == 304)
            directive.status = 0;
        if (directive.status == 0 && !directive.code.empty())
            directive.status = directive.code == "insufficient_quota" ? 429 : 400;

        QByteArray key;
        qsizetype total = qsizetype(whole.size()) + 1;
        for (const std::string_view p : prompt.pieces)
            total += qsizetype(p.size()) + 1;
        key.reserve(total);
        key.append(whole.data(), qsizetype(whole.size()));
        for (const std::string_view p : prompt.pieces) {
            key.append('\x1f');
            key.append(p.data(), qsizetype(p.size()));
        }
        directive.key = std::move(key);
        return true;
    }
    return false;
}

const char *reasonPhrase(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 529:
        return "Overloaded";
    default:
        return "Status";
    }
}

QByteArray dumpJson(const json &value)
{
    const std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
    return QByteArray(text.data(), qsizetype(text.size()));
}

QByteArray httpResponse(int status, const QByteArray &body, const QByteArray &extraHeaders, bool close)
{
    QByteArray out;
    out.reserve(160 + extraHeaders.size() + body.size());
    out.append("HTTP/1.1 ");
    out.append(QByteArray::number(status));
    out.append(' ');
    out.append(reasonPhrase(status));
    out.append("\r\nContent-Type: application/json\r\nContent-Length: ");
    out.append(QByteArray::number(body.size()));
    out.append("\r\n");
    out.append(extraHeaders);
    if (close)
        out.append("Connection: close\r\n");
    out.append("\r\n");
    out.append(body);
    return out;
}

json openAiError(std::string_view message, std::string_view type, std::string_view code)
{
    json error = {{"message", message}, {"type", type}, {"code", nullptr}};
    if (!code.empty())
        error["code"] = code;
    return json{{"error", std::move(error)}};
}

json anthropicError(std::string_view type, std::string_view message)
{
    return json{{"type", "error"}, {"error", {{"type", type}, {"message", message}}}};
}

/// Formats a duration like Go's time.Duration.String(), rounded up to whole milliseconds:
/// "0s", "120ms", "1s", "1.5s", "1m26.4s", "1h0m0s".
QByteArray goDuration(double ms)
{
    qint64 total = static_cast<qint64>(std::ceil(ms));
    if (total <= 0)
        return QByteArrayLiteral("0s");
    if (total < 1000)
        return QByteArray::number(total) + "ms";
    QByteArray out;
    const qint64 hours = total / 3'600'000;
    total %= 3'600'000;
    const qint64 minutes = total / 60'000;
    total %= 60'000;
    if (hours > 0)
        out += QByteArray::number(hours) + 'h';
    if (hours > 0 || minutes > 0)
        out += QByteArray::number(minutes) + 'm';
    out += QByteArray::number(total / 1000);
    if (const qint64 frac = total % 1000; frac > 0) {
        QByteArray digits = QByteArray::number(frac).rightJustified(3, '0');
        while (digits.endsWith('0'))
            digits.chop(1);
        out += '.' + digits;
    }
    out += 's';
    return out;
}

void appendHeader(QByteArray &headers, const char *name, const QByteArray &value)
{
    headers.append(name);
    headers.append(": ");
    headers.append(value);
    headers.append("\r\n");
}

} // namespace

struct Simulator::Private
{
    explicit Private(Simulator *q, RandomSource *random);

    void makeServer();
    void handleNewConnections();
    void handleReadyRead(Connection *c);
    void handleDisconnected(Connection *c);
    void processBuffer(Connection *c);
    /// Parses the request line and headers: 0 = done, -1 = need more bytes, else an HTTP error status.
    int parseHead(Connection *c);
    void handleRequest(Connection *c, const char *request);
    void protocolError(Connection *c, int status, std::string_view message);
    void enqueue(Connection *c, PendingReply reply, double delayMs);
    void send(Connection *c, PendingReply reply);
    void dripNext(Connection *c);
    void countSent(int status, bool broken);
    void flush(Connection *c);
    void resetConnection(Connection *c);
    void compact(Connection *c);
    void handleTimer();
    void armTimer();

    void updateBucket(double nowMs);
    /// Takes one token when available; `waitMs` is the time until one is.
    bool takeToken(double nowMs, double &waitMs);
    void appendRateHeaders(QByteArray &headers, Api api) const;

    Simulator *const q;
    QTcpServer *server = nullptr; ///< a QSslServer when `tls` is set
    std::optional<QSslConfiguration> tls;
    QTimer *timer = nullptr;
    std::unique_ptr<DefaultRandom> ownRandom;
    RandomSource *random = nullptr;
    std::unordered_map<quint64, Connection *> connections;
    quint64 nextConnectionId = 1;
    std::priority_queue<Due, std::vector<Due>, std::greater<>> due;
    double armedForMs = -1; ///< due time the timer is armed for, -1 when idle
    QHash<QByteArray, int> directiveUses;
    QByteArray requiredKey;
    QByteArray requiredBearer;
    std::string defaultModel;
    qint64 nextReplyId = 1;

    double capacity = 1;
    double tokens = 1;
    double refilledAtMs = 0;
};

Simulator::Private::Private(Simulator *q, RandomSource *random)
    : q(q)
    , timer(new QTimer(q))
    , random(random)
{
    if (!this->random) {
        ownRandom = std::make_unique<DefaultRandom>();
        this->random = ownRandom.get();
    }
    makeServer();
    timer->setSingleShot(true);
    timer->setTimerType(Qt::PreciseTimer);
    QObject::connect(timer, &QTimer::timeout, q, [this] { handleTimer(); });
}

void Simulator::Private::makeServer()
{
    delete server;
    if (tls) {
        auto *sslServer = new QSslServer(q);
        sslServer->setSslConfiguration(*tls);
        sslServer->setHandshakeTimeout(kTlsHandshakeTimeoutMs);
        // A QSslServer queues a connection once its handshake is done, not when it is accepted.
        QObject::connect(sslServer, &QTcpServer::pendingConnectionAvailable, q,
                         [this] { handleNewConnections(); });
        QObject::connect(sslServer, &QSslServer::errorOccurred, q,
                         [this](QSslSocket *socket, QAbstractSocket::SocketError) {
                             if (!socket->isEncrypted())
                                 ++q->m_stats.tlsFailures;
                         });
        server = sslServer;
    } else {
        server = new QTcpServer(q);
        QObject::connect(server, &QTcpServer::newConnection, q, [this] { handleNewConnections(); });
    }
    // Clients open hundreds of connections at once: the defaults (backlog 50, 30 pending) would make
    // the kernel drop SYNs, which costs the client a one-second retransmit.
    server->setListenBacklogSize(1024);
    server->setMaxPendingConnections(1024);
}

void Simulator::Private::handleNewConnections()
{
    while (QTcpSocket *socket = server->nextPendingConnection()) {
        auto *c = new Connection(nextConnectionId++, socket);
        connections.emplace(c->id, c);
        ++q->m_stats.connections;
        socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
        socket->setReadBufferSize(kSocketReadBuffer);
        QObject::connect(socket, &QTcpSocket::readyRead, c, [this, c] { handleReadyRead(c); });
        QObject::connect(socket, &QTcpSocket::disconnected, c, [this, c] { handleDisconnected(c); });
        if (socket->state() != QAbstractSocket::ConnectedState)
            handleDisconnected(c);
        else if (socket->bytesAvailable() > 0)
            handleReadyRead(c);
    }
}

void Simulator::Private::handleReadyRead(Connection *c)
{
    if (c->gone)
        return;
    const qint64 available = c->socket->bytesAvailable();
    if (available <= 0)
        return;
    if (c->closing) {
        c->socket->skip(available); // no further requests will be answered on this connection
        return;
    }
    if (c->pending.size() >= kMaxPendingReplies)
        return; // resumed by flush() once replies have gone out
    const qsizetype old = c->buffer.size();
    c->buffer.resize(old + available);
    const qint64 n = c->socket->read(c->buffer.data() + old, available);
    c->buffer.resize(old + std::max<qint64>(n, 0));
    processBuffer(c);
}

void Simulator::Private::handleDisconnected(Connection *c)
{
    if (c->gone)
        return;
    c->gone = true;
    c->pending.clear();
    connections.erase(c->id);
    // Deferred: we may be inside one of this socket's own signals. The Connection dies with it.
    c->socket->deleteLater();
}

void Simulator::Private::processBuffer(Connection *c)
{
    while (!c->gone && !c->closing && c->pending.size() < kMaxPendingReplies) {
        if (!c->haveHead) {
            const int result = parseHead(c);
            if (result < 0)
                break;
            if (result > 0) {
                protocolError(c, result, result == 431 ? "Request headers too large" : "Malformed request");
                break;
            }
            if (c->head.chunked) {
                protocolError(c, 411, "Transfer-Encoding is not supported; send Content-Length");
                break;
            }
            if (c->head.contentLength > kMaxBodyBytes) {
                protocolError(c, 413, "Request body larger than 32 MiB");
                break;
            }
            c->haveHead = true;
            c->sentContinue = false;
        }
        const qsizetype total = c->head.headerBytes + qsizetype(c->head.contentLength);
        if (c->buffer.size() - c->pos < total) {
            if (c->buffer.capacity() < c->pos + total)
                c->buffer.reserve(c->pos + total);
            // Only when nothing is queued: an interim 100 must not overtake an earlier reply.
            if (c->head.expectContinue && !c->sentContinue && c->pending.empty()) {
                c->socket->write("HTTP/1.1 100 Continue\r\n\r\n");
                c->sentContinue = true;
            }
            break;
        }
        handleRequest(c, c->buffer.constData() + c->pos);
        c->pos += total;
        c->scanFrom = c->pos;
        c->haveHead = false;
    }
    compact(c);
}

void Simulator::Private::compact(Connection *c)
{
    if (c->gone) {
        c->buffer = QByteArray();
        c->pos = c->scanFrom = 0;
        return;
    }
    const qsizetype remaining = c->buffer.size() - c->pos;
    if (remaining == 0) {
        if (c->buffer.capacity() > kKeptBufferCapacity)
            c->buffer = QByteArray();
        else
            c->buffer.resize(0);
    } else if (c->pos > 0 && c->pos >= remaining) {
        // Shift only when at least as much was consumed as is left: amortised linear in the bytes read.
        c->buffer.remove(0, c->pos);
    } else {
        return;
    }
    c->scanFrom -= c->pos;
    c->pos = 0;
}

int Simulator::Private::parseHead(Connection *c)
{
    const char *data = c->buffer.constData();
    const qsizetype size = c->buffer.size();
    // Tolerate blank lines before a request line (RFC 9112 2.2).
    while (c->pos < size && (data[c->pos] == '\r' || data[c->pos] == '\n'))
        ++c->pos;
    c->scanFrom = std::max(c->scanFrom, c->pos);
    const QByteArrayView all(data, size);
    const qsizetype from = std::max(c->pos, c->scanFrom - 3);
    const qsizetype end = all.indexOf(QByteArrayView("\r\n\r\n"), from);
    if (end < 0) {
        c->scanFrom = size;
        return size - c->pos > kMaxHeaderBytes ? 431 : -1;
    }
    const qsizetype headerBytes = end + 4 - c->pos;
    if (headerBytes > kMaxHeaderBytes)
        return 431;

    RequestHead head;
    head.headerBytes = headerBytes;
    const char *request = data + c->pos;
    const QByteArrayView block(request, headerBytes - 4);
    qsizetype lineEnd = block.indexOf('\n');
    const QByteArrayView requestLine = trimmed(lineEnd < 0 ? block : block.first(lineEnd));

    // METHOD SP target SP HTTP/1.x
    const qsizetype sp1 = requestLine.indexOf(' ');
    const qsizetype sp2 = sp1 < 0 ? -1 : requestLine.indexOf(' ', sp1 + 1);
    if (sp1 <= 0 || sp2 <= sp1 + 1)
        return 400;
    const QByteArrayView version = requestLine.sliced(sp2 + 1);
    const bool http10 = version == QByteArrayView("HTTP/1.0");
    if (http10)
        head.keepAlive = false; // we never announce keep-alive to HTTP/1.0 clients
    else if (version != QByteArrayView("HTTP/1.1"))
        return 400;
    const qsizetype lineStart = requestLine.data() - request;
    head.method = {lineStart, sp1};
    head.target = {lineStart + sp1 + 1, sp2 - sp1 - 1};

    bool sawLength = false;
    while (lineEnd >= 0) {
        const qsizetype start = lineEnd + 1;
        lineEnd = block.indexOf('\n', start);
        QByteArrayView line = block.sliced(start, (lineEnd < 0 ? block.size() : lineEnd) - start);
        if (line.endsWith('\r'))
            line.chop(1);
        if (line.isEmpty())
            continue;
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0)
            return 400;
        const QByteArrayView name = line.first(colon);
        const QByteArrayView value = trimmed(line.sliced(colon + 1));
        if (equalsNoCase(name, "content-length")) {
            qint64 length = 0;
            if (!parseInt(std::string_view(value.data(), std::size_t(value.size())), length))
                return value.size() > 12 ? 413 : 400;
            if (sawLength && length != head.contentLength)
                return 400;
            sawLength = true;
            head.contentLength = length;
        } else if (equalsNoCase(name, "transfer-encoding")) {
            head.chunked = !equalsNoCase(value, "identity");
        } else if (equalsNoCase(name, "connection")) {
            if (hasToken(value, "close"))
                head.keepAlive = false;
            else if (hasToken(value, "keep-alive") && !http10)
                head.keepAlive = true;
        } else if (equalsNoCase(name, "authorization")) {
            head.hasAuthorization = true;
            head.authorization = {value.data() - request, value.size()};
        } else if (equalsNoCase(name, "x-api-key")) {
            head.hasApiKey = true;
            head.apiKey = {value.data() - request, value.size()};
        } else if (equalsNoCase(name, "expect")) {
            head.expectContinue = equalsNoCase(value, "100-continue");
        }
    }
    c->head = head;
    return 0;
}

void Simulator::Private::protocolError(Connection *c, int status, std::string_view message)
{
    qCDebug(lcSim) << "closing connection after protocol error" << status;
    PendingReply reply;
    reply.bytes = httpResponse(status, dumpJson(openAiError(message, "invalid_request_error", {})), {}, true);
    reply.status = status;
    reply.closeAfter = true;
    enqueue(c, std::move(reply), 0);
}

void Simulator::Private::handleRequest(Connection *c, const char *request)
{
    const RequestHead &head = c->head;
    const double nowMs = SteadyClock::instance()->nowMs();
    ++q->m_stats.requests;

    const QByteArrayView method = view(request, head.method);
    QByteArrayView path = view(request, head.target);
    if (const qsizetype query = path.indexOf('?'); query >= 0)
        path.truncate(query);
    const bool closeAfter = !head.keepAlive;

    Simulator::Received record;
    const bool recording = q->m_recording;
    if (recording) {
        record.atMs = nowMs;
        record.path = QString::fromUtf8(path);
        record.authorization =
            head.hasAuthorization || head.hasApiKey ? QStringLiteral("present") : QStringLiteral("absent");
    }
    const bool isHead = method == QByteArrayView("HEAD");
    // How the answer goes on the wire; only a scripted directive changes it.
    Delivery delivery = Delivery::Whole;
    bool broken = false;
    int dripMs = 0;
    const auto finish = [&](QByteArray bytes, int status, double delayMs) {
        if (isHead && status > 0)
            bytes.truncate(bytes.indexOf("\r\n\r\n") + 4); // same headers, no body
        if (recording) {
            record.status = status;
            q->m_received.append(record);
        }
        PendingReply reply;
        reply.bytes = std::move(bytes);
        reply.status = status;
        reply.delivery = status == 0 ? Delivery::Reset : status < 0 ? Delivery::Hang : delivery;
        reply.broken = broken;
        reply.dripMs = dripMs;
        reply.closeAfter = closeAfter;
        enqueue(c, std::move(reply), delayMs);
    };

    if (path == QByteArrayView("/health")) {
        if (method == QByteArrayView("GET") || isHead)
            finish(httpResponse(200, QByteArrayLiteral("{\"status\":\"ok\"}"), {}, closeAfter), 200, 0);
        else
            finish(httpResponse(
                       405, dumpJson(openAiError("Method not allowed; use GET", "invalid_request_error", {})),
                       QByteArrayLiteral("Allow: GET\r\n"), closeAfter),
                   405, 0);
        return;
    }

    Api api;
    if (path.endsWith(QByteArrayView("/chat/completions")))
        api = Api::Chat;
    else if (path.endsWith(QByteArrayView("/messages")))
        api = Api::Messages;
    else {
        const std::string message = "Unknown request URL: " + std::string(method.data(), method.size()) +
                                    ' ' + std::string(path.data(), path.size());
        finish(httpResponse(404, dumpJson(openAiError(message, "invalid_request_error", "unknown_url")), {},
                            closeAfter),
               404, 0);
        return;
    }
    const bool anthropic = api == Api::Messages;
    const auto clientError = [&](int status, std::string_view message, std::string_view openAiType,
                                 std::string_view anthropicType, std::string_view code,
                                 const QByteArray &headers = {}) {
        const json body =
            anthropic ? anthropicError(anthropicType, message) : openAiError(message, openAiType, code);
        finish(httpResponse(status, dumpJson(body), headers, closeAfter), status, 0);
    };

    if (method != QByteArrayView("POST")) {
        clientError(405, "Method not allowed; use POST", "invalid_request_error", "invalid_request_error", {},
                    QByteArrayLiteral("Allow: POST\r\n"));
        return;
    }
    if (!requiredKey.isEmpty()) {
        const bool ok = anthropic
                            ? head.hasApiKey && view(request, head.apiKey) == requiredKey
                            : head.hasAuthorization && view(request, head.authorization) == requiredBearer;
        if (!ok) {
            clientError(401, anthropic ? "invalid x-api-key" : "Incorrect API key provided",
                        "invalid_request_error", "authentication_error", "invalid_api_key");
            return;
        }
    }

    bool tooDeep = false;
    const json::parser_callback_t depthGuard = [&tooDeep](int depth, json::parse_event_t, json &) {
        if (depth > kMaxJsonDepth) {
            tooDeep = true;
            return false;
        }
        return true;
    };
    const char *bodyStart = request + head.headerBytes;
    const json body = json::parse(bodyStart, bodyStart + head.contentLength, depthGuard, false);
    Prompt prompt;
    if (body.is_discarded() || tooDeep || !body.is_object()) {
        clientError(400, tooDeep ? "Request body nests too deeply" : "Request body is not a JSON object",
                    "invalid_request_error", "invalid_request_error", {});
        return;
    }
    if (!readPrompt(body, prompt)) {
        clientError(400, "'messages' must be a non-empty array", "invalid_request_error",
                    "invalid_request_error", {});
        return;
    }
    if (recording)
        record.text = QString::fromStdString(lastUserText(prompt, kRecordedTextChars));

    const SimulatorConfig &config = q->m_config;
    const auto jitter = [&] {
        return config.jitterMs > 0 ? random->uniform() * config.jitterMs : 0.0;
    };

    // A scripted directive, while its `times` lasts, decides the whole answer: no own rate limit, no
    // random faults.
    Directive directive;
    bool scripted = false;
    if (findDirective(prompt, directive)) {
        if (directive.times < 0) {
            scripted = true;
        } else {
            int &uses = directiveUses[directive.key];
            if (uses < directive.times) {
                ++uses;
                scripted = true;
            }
        }
    }

    int status = 200;
    double delayMs = 0;
    QByteArray headers;
    if (scripted) {
        updateBucket(nowMs); // no token taken, but the rate-limit headers report the current state
        delayMs = config.latencyMs + jitter() + double(directive.delayMs);
        if (directive.hang) {
            finish(QByteArray(), -1, 0);
            return;
        }
        if (directive.reset) {
            finish(QByteArray(), 0, delayMs);
            return;
        }
        if (directive.resetMidBody)
            delivery = Delivery::ResetMidBody;
        else if (directive.truncate)
            delivery = Delivery::Truncate;
        else if (directive.dripMs > 0)
            delivery = Delivery::Drip;
        dripMs = int(directive.dripMs);
        broken = directive.garbage;
        const auto bodyOf = [&](const json &value) {
            return directive.garbage ? QByteArray(kGarbageBody) : dumpJson(value);
        };
        if (!directive.redirect.empty()) {
            status = directive.status;
            appendHeader(headers, "Location", QByteArray::fromStdString(directive.redirect));
            finish(httpResponse(status,
                                bodyOf(openAiError("Moved (simulated redirect)", "redirect", "moved")),
                                headers, closeAfter),
                   status, delayMs);
            return;
        }
        if (directive.status >= 300) {
            status = directive.status;
            const std::string_view code = directive.code;
            json errorBody;
            if (status == 429) {
                if (directive.retryAfterS >= 0)
                    appendHeader(headers, "Retry-After", QByteArray::number(directive.retryAfterS));
                if (directive.retryAfterMs >= 0)
                    appendHeader(headers, "retry-after-ms", QByteArray::number(directive.retryAfterMs));
                appendRateHeaders(headers, api);
                const bool quota = code == "insufficient_quota";
                errorBody = anthropic
                                ? anthropicError("rate_limit_error", "Simulated rate limit")
                                : openAiError(quota ? "You exceeded your current quota (simulated)"
                                                    : "Rate limit reached (simulated)",
                                              quota ? "insufficient_quota" : "requests",
                                              code.empty() ? std::string_view("rate_limit_exceeded") : code);
            } else if (status == 529) {
                errorBody = anthropicError("overloaded_error", "Overloaded");
            } else if (status >= 500) {
                errorBody = anthropic ? anthropicError("api_error", "Simulated server error")
                                      : openAiError("Simulated server error", "server_error", code);
                if (code.empty() && !anthropic)
                    errorBody["error"].erase("code");
            } else {
                errorBody =
                    anthropic
                        ? anthropicError(code.empty() ? std::string_view("invalid_request_error") : code,
                                         "Simulated client error")
                        : openAiError("Simulated client error", "invalid_request_error", code);
            }
            finish(httpResponse(status, bodyOf(errorBody), headers, closeAfter), status, delayMs);
            return;
        }
        if (directive.status >= 200 && directive.status < 300)
            status = directive.status;
        if (directive.garbage) {
            appendRateHeaders(headers, api);
            finish(httpResponse(status, bodyOf(json()), headers, closeAfter), status, delayMs);
            return;
        }
    } else {
        if (config.quotaExhausted) {
            const json errorBody =
                openAiError("You exceeded your current quota, please check your plan and billing "
                            "details (simulated)",
                            "insufficient_quota", "insufficient_quota");
            finish(httpResponse(429, dumpJson(errorBody), headers, closeAfter), 429, 0);
            return;
        }
        if (config.rps > 0) {
            double waitMs = 0;
            if (!takeToken(nowMs, waitMs)) {
                const qint64 ms = std::max<qint64>(1, qint64(std::ceil(waitMs)));
                appendHeader(headers, "Retry-After",
                             QByteArray::number(std::max<qint64>(1, (ms + 999) / 1000)));
                appendHeader(headers, "retry-after-ms", QByteArray::number(ms));
                appendRateHeaders(headers, api);
                const json errorBody =
                    anthropic
                        ? anthropicError("rate_limit_error", "Rate limit reached for requests (simulated)")
                        : openAiError("Rate limit reached for requests (simulated). Please try again in " +
                                          std::to_string(ms) + "ms.",
                                      "requests", "rate_limit_exceeded");
                finish(httpResponse(429, dumpJson(errorBody), headers, closeAfter), 429, 0);
                return;
            }
        }
        // Draw order (for scripted random sources): reset, error, jitter; each only when configured.
        const bool reset = config.resetRate > 0 && random->uniform() < config.resetRate;
        const bool error = !reset && config.errorRate > 0 && random->uniform() < config.errorRate;
        delayMs = config.latencyMs + jitter();
        if (reset) {
            finish(QByteArray(), 0, delayMs);
            return;
        }
        if (error) {
            const json errorBody =
                anthropic
                    ? anthropicError("api_error", "Simulated server error")
                    : json{{"error", {{"message", "Simulated server error"}, {"type", "server_error"}}}};
            finish(httpResponse(500, dumpJson(errorBody), headers, closeAfter), 500, delayMs);
            return;
        }
    }

    // The normal answer.
    appendRateHeaders(headers, api);
    std::string model = defaultModel;
    if (const auto it = body.find("model");
        it != body.end() && it->is_string() && !it->get_ref<const std::string &>().empty())
        model = it->get_ref<const std::string &>();
    const std::string text = "Simulated reply to: " + lastUserText(prompt, kReplyPreviewChars);
    const qint64 promptTokens = std::max<qint64>(1, prompt.chars / 4);
    const qint64 completionTokens = std::max<qint64>(1, utf8Length(text) / 4);
    const qint64 id = nextReplyId++;
    json reply;
    if (anthropic) {
        reply = {{"id", "msg_sim_" + std::to_string(id)},
                 {"type", "message"},
                 {"role", "assistant"},
                 {"model", model},
                 {"content", json::array({{{"type", "text"}, {"text", text}}})},
                 {"stop_reason", "end_turn"},
                 {"stop_sequence", nullptr},
                 {"usage", {{"input_tokens", promptTokens}, {"output_tokens", completionTokens}}}};
    } else {
        reply = {{"id", "chatcmpl-sim-" + std::to_string(id)},
                 {"object", "chat.completion"},
                 {"created", QDateTime::currentSecsSinceEpoch()},
                 {"model", model},
                 {"choices", json::array({{{"index", 0},
                                           {"message", {{"role", "assistant"}, {"content", text}}},
                                           {"finish_reason", "stop"}}})},
                 {"usage",
                  {{"prompt_tokens", promptTokens},
                   {"completion_tokens", completionTokens},
                   {"total_tokens", promptTokens + completionTokens}}}};
    }
    finish(httpResponse(status, dumpJson(reply), headers, closeAfter), status, delayMs);
}

void Simulator::Private::enqueue(Connection *c, PendingReply reply, double delayMs)
{
    // After a hang nothing on this connection is ever answered, so nothing more is read either.
    if (reply.closeAfter || reply.delivery == Delivery::Hang)
        c->closing = true;
    if (delayMs <= 0 && c->pending.empty() && !c->dripping) {
        send(c, std::move(reply));
        return;
    }
    const quint64 seq = c->firstSeq + c->pending.size();
    reply.ready = delayMs <= 0;
    c->pending.push_back(std::move(reply));
    if (delayMs > 0) {
        due.push({SteadyClock::instance()->nowMs() + delayMs, c->id, seq});
        armTimer();
    }
}

void Simulator::Private::countSent(int status, bool broken)
{
    Stats &stats = q->m_stats;
    if (broken)
        ++stats.broken;
    else if (status >= 200 && status < 300)
        ++stats.ok;
    else if (status >= 300 && status < 400)
        ++stats.redirects;
    else if (status == 429)
        ++stats.rateLimited;
    else if (status >= 500)
        ++stats.serverErrors;
    else if (status >= 400)
        ++stats.clientErrors;
}

void Simulator::Private::send(Connection *c, PendingReply reply)
{
    Stats &stats = q->m_stats;
    const qsizetype headEnd = reply.bytes.indexOf("\r\n\r\n") + 4;
    switch (reply.delivery) {
    case Delivery::Reset:
        ++stats.resets;
        resetConnection(c);
        return;
    case Delivery::Hang:
        ++stats.hangs;
        return;
    case Delivery::Truncate:
    case Delivery::ResetMidBody: {
        // Content-Length announces the whole body; only the first half of it is sent.
        c->socket->write(reply.bytes.first(headEnd + (reply.bytes.size() - headEnd) / 2));
        c->closing = true;
        countSent(reply.status, true);
        if (reply.delivery == Delivery::Truncate) {
            c->socket->disconnectFromHost(); // a clean close (FIN) after the partial reply
            return;
        }
        ++stats.resets;
        c->socket->flush();
        QTimer::singleShot(kResetMidBodyDelayMs, c, [this, c] {
            if (c->gone)
                return;
#ifdef Q_OS_UNIX
            // Linger 0: close() sends a RST instead of a FIN.
            const qintptr fd = c->socket->socketDescriptor();
            if (fd >= 0) {
                const ::linger hard{1, 0};
                ::setsockopt(int(fd), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
            }
#endif
            resetConnection(c);
        });
        return;
    }
    case Delivery::Drip:
        if (headEnd < reply.bytes.size()) {
            c->socket->write(reply.bytes.first(headEnd));
            c->dripRemaining = reply.bytes.sliced(headEnd);
            c->dripOffset = 0;
            c->dripStatus = reply.status;
            c->dripBroken = reply.broken;
            c->dripCloseAfter = reply.closeAfter;
            c->dripping = true;
            if (!c->dripTimer) {
                c->dripTimer = new QTimer(c);
                c->dripTimer->setTimerType(Qt::PreciseTimer);
                QObject::connect(c->dripTimer, &QTimer::timeout, c, [this, c] { dripNext(c); });
            }
            c->dripTimer->start(std::max(1, reply.dripMs));
            return;
        }
        break; // no body (HEAD): nothing to drip
    case Delivery::Whole:
        break;
    }
    c->socket->write(reply.bytes);
    countSent(reply.status, reply.broken);
    if (reply.closeAfter) {
        c->closing = true;
        c->socket->disconnectFromHost();
    }
}

void Simulator::Private::dripNext(Connection *c)
{
    if (c->gone || !c->dripping)
        return;
    c->socket->write(c->dripRemaining.constData() + c->dripOffset, 1);
    if (++c->dripOffset < c->dripRemaining.size())
        return;
    c->dripTimer->stop();
    c->dripping = false;
    c->dripRemaining = QByteArray();
    countSent(c->dripStatus, c->dripBroken);
    if (c->dripCloseAfter) {
        c->closing = true;
        c->socket->disconnectFromHost();
        return;
    }
    flush(c);
}

void Simulator::Private::resetConnection(Connection *c)
{
    c->closing = true;
    c->socket->abort(); // emits disconnected() synchronously when connected
    handleDisconnected(c);
}

void Simulator::Private::flush(Connection *c)
{
    const bool wasFull = c->pending.size() >= kMaxPendingReplies;
    while (!c->gone && !c->dripping && !c->pending.empty() && c->pending.front().ready) {
        PendingReply reply = std::move(c->pending.front());
        c->pending.pop_front();
        ++c->firstSeq;
        const bool closeAfter = reply.closeAfter;
        send(c, std::move(reply));
        if (closeAfter)
            break;
    }
    if (wasFull && !c->gone && !c->closing && !c->dripping && c->pending.size() < kMaxPendingReplies) {
        processBuffer(c);
        handleReadyRead(c);
    }
}

void Simulator::Private::armTimer()
{
    if (due.empty()) {
        timer->stop();
        armedForMs = -1;
        return;
    }
    const double next = due.top().dueMs;
    if (timer->isActive() && armedForMs <= next)
        return;
    armedForMs = next;
    const double wait = next - SteadyClock::instance()->nowMs();
    // Rounded up so that a reply never leaves before its time.
    timer->start(std::max(0, int(std::ceil(wait))));
}

void Simulator::Private::handleTimer()
{
    armedForMs = -1;
    const double nowMs = SteadyClock::instance()->nowMs();
    while (!due.empty() && due.top().dueMs <= nowMs) {
        const Due entry = due.top();
        due.pop();
        const auto it = connections.find(entry.connection);
        if (it == connections.end())
            continue; // the client went away meanwhile
        Connection *c = it->second;
        if (entry.seq < c->firstSeq || entry.seq - c->firstSeq >= c->pending.size())
            continue;
        c->pending[entry.seq - c->firstSeq].ready = true;
        flush(c);
    }
    armTimer();
}

void Simulator::Private::updateBucket(double nowMs)
{
    const double rps = q->m_config.rps;
    if (rps <= 0)
        return;
    if (nowMs > refilledAtMs)
        tokens = std::min(capacity, tokens + (nowMs - refilledAtMs) * rps / 1000.0);
    refilledAtMs = nowMs;
}

bool Simulator::Private::takeToken(double nowMs, double &waitMs)
{
    updateBucket(nowMs);
    if (tokens >= 1.0) {
        tokens -= 1.0;
        waitMs = 0;
        return true;
    }
    waitMs = (1.0 - tokens) * 1000.0 / q->m_config.rps;
    return false;
}

void Simulator::Private::appendRateHeaders(QByteArray &headers, Api api) const
{
    const double rps = q->m_config.rps;
    if (rps <= 0 || !q->m_config.rateLimitHeaders)
        return;
    const QByteArray limit = QByteArray::number(std::max<qint64>(1, std::llround(rps * 60.0)));
    const QByteArray remaining = QByteArray::number(qint64(std::floor(tokens)));
    const double untilFullMs = (capacity - tokens) * 1000.0 / rps;
    if (api == Api::Chat) {
        appendHeader(headers, "x-ratelimit-limit-requests", limit);
        appendHeader(headers, "x-ratelimit-remaining-requests", remaining);
        appendHeader(headers, "x-ratelimit-reset-requests", goDuration(untilFullMs));
    } else {
        // RFC 3339, whole seconds rounded up.
        const qint64 fullAtMs = QDateTime::currentMSecsSinceEpoch() + qint64(std::ceil(untilFullMs));
        const qint64 fullAtS = (fullAtMs + 999) / 1000;
        const QDateTime at = QDateTime::fromMSecsSinceEpoch(fullAtS * 1000, Qt::UTC);
        appendHeader(headers, "anthropic-ratelimit-requests-limit", limit);
        appendHeader(headers, "anthropic-ratelimit-requests-remaining", remaining);
        appendHeader(headers, "anthropic-ratelimit-requests-reset", at.toString(Qt::ISODate).toLatin1());
    }
}

Simulator::Simulator(SimulatorConfig config, QObject *parent)
    : Simulator(std::move(config), nullptr, parent)
{
}

Simulator::Simulator(SimulatorConfig config, RandomSource *random, QObject *parent)
    : QObject(parent)
    , d(std::make_unique<Private>(this, random))
{
    setConfig(config);
}

Simulator::~Simulator()
{
    close();
}

Result<void> Simulator::setTls(const QString &certificatePath, const QString &keyPath)
{
    if (d->server->isListening()) {
        return Error{Error::Code::Network, QStringLiteral("Simulator::setTls: close the simulator first")};
    }
    const QList<QSslCertificate> chain = QSslCertificate::fromPath(certificatePath, QSsl::Pem);
    if (chain.isEmpty()) {
        return Error{Error::Code::Io,
                     QStringLiteral("%1: no PEM certificate could be read").arg(certificatePath)};
    }
    QFile keyFile(keyPath);
    if (!keyFile.open(QIODevice::ReadOnly)) {
        return Error{Error::Code::Io, QStringLiteral("%1: %2").arg(keyPath, keyFile.errorString())};
    }
    const QByteArray pem = keyFile.readAll();
    QSslKey key(pem, QSsl::Ec, QSsl::Pem);
    if (key.isNull())
        key = QSslKey(pem, QSsl::Rsa, QSsl::Pem);
    if (key.isNull()) {
        return Error{
            Error::Code::Io,
            QStringLiteral("%1: no unencrypted PEM EC or RSA private key could be read").arg(keyPath)};
    }
    QSslConfiguration config = QSslConfiguration::defaultConfiguration();
    config.setLocalCertificateChain(chain);
    config.setPrivateKey(key);
    config.setPeerVerifyMode(QSslSocket::VerifyNone); // clients are not asked for certificates
    d->tls = config;
    d->makeServer();
    return {};
}

bool Simulator::isTls() const
{
    return d->tls.has_value();
}

Result<quint16> Simulator::listen(quint16 port, const QHostAddress &address)
{
    if (d->server->isListening())
        d->server->close();
    if (!d->server->listen(address, port)) {
        return Error{Error::Code::Network,
                     QStringLiteral("Simulator cannot listen on %1:%2: %3")
                         .arg(address.toString(), QString::number(port), d->server->errorString())};
    }
    return d->server->serverPort();
}

void Simulator::close()
{
    d->server->close();
    // Copy: handleDisconnected() erases from the map.
    std::vector<Connection *> open;
    open.reserve(d->connections.size());
    for (const auto &[id, c] : d->connections)
        open.push_back(c);
    for (Connection *c : open) {
        QObject::disconnect(c->socket, nullptr, c, nullptr);
        c->closing = true;
        c->socket->abort();
        d->handleDisconnected(c);
    }
    d->connections.clear();
    d->due = {};
    d->timer->stop();
    d->armedForMs = -1;
}

quint16 Simulator::port() const
{
    return d->server->isListening() ? d->server->serverPort() : 0;
}

static QUrl simulatorUrl(const QTcpServer *server, bool tls, const QString &path)
{
    QUrl url;
    url.setScheme(tls ? QStringLiteral("https") : QStringLiteral("http"));
    const QHostAddress address = server->serverAddress();
    const bool loopbackOrAny = address.isLoopback() || address == QHostAddress::Any ||
                               address == QHostAddress::AnyIPv4 || address == QHostAddress::AnyIPv6 ||
                               address.isNull();
    url.setHost(loopbackOrAny ? QStringLiteral("127.0.0.1") : address.toString());
    url.setPort(server->isListening() ? server->serverPort() : 0);
    url.setPath(path);
    return url;
}

QUrl Simulator::chatUrl() const
{
    return simulatorUrl(d->server, isTls(), QStringLiteral("/v1/chat/completions"));
}

QUrl Simulator::messagesUrl() const
{
    return simulatorUrl(d->server, isTls(), QStringLiteral("/v1/messages"));
}

void Simulator::setConfig(const SimulatorConfig &config)
{
    const double nowMs = SteadyClock::instance()->nowMs();
    const bool wasLimited = m_config.rps > 0;
    d->updateBucket(nowMs); // settle at the old rate first
    m_config = config;
    d->requiredKey = config.requireKey.toUtf8();
    d->requiredBearer = d->requiredKey.isEmpty() ? QByteArray() : "Bearer " + d->requiredKey;
    d->defaultModel = config.model.toStdString();
    if (config.rps > 0) {
        d->capacity = config.burst > 0 ? double(config.burst) : std::max(1.0, std::floor(config.rps / 10.0));
        d->tokens = wasLimited ? std::min(d->tokens, d->capacity) : d->capacity;
        d->refilledAtMs = nowMs;
    }
}

} // namespace Sluice
