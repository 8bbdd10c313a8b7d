// Real loopback HTTP against Sluice::Simulator: QNetworkAccessManager for the client view,
// a raw QTcpSocket where the wire itself matters (keep-alive, pipelining, framing errors).

#include "manualclock.h"
#include "sim/simulator.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QTcpSocket>
#include <QTest>

#include <nlohmann/json.hpp>

#include <memory>

using namespace Sluice;
using json = nlohmann::json;

namespace {

struct HttpResult
{
    int status = 0; ///< 0 when no HTTP reply arrived
    QNetworkReply::NetworkError error = QNetworkReply::NoError;
    QByteArray body;
    QHash<QByteArray, QByteArray> headers; ///< names lower-cased

    json parsed() const { return json::parse(body.begin(), body.end(), nullptr, false); }
    QByteArray header(const char *name) const { return headers.value(QByteArray(name)); }
};

/// A raw HTTP response read off a QTcpSocket.
struct RawResponse
{
    int status = 0;
    QHash<QByteArray, QByteArray> headers; ///< names lower-cased
    QByteArray body;

    json parsed() const { return json::parse(body.begin(), body.end(), nullptr, false); }
};

QByteArray toBytes(const json &value)
{
    const std::string text = value.dump();
    return QByteArray(text.data(), qsizetype(text.size()));
}

std::string str(const QString &s)
{
    return s.toStdString();
}

QByteArray chatBody(const QString &text, const QString &model = {})
{
    json body = {{"messages", json::array({{{"role", "user"}, {"content", str(text)}}})}};
    if (!model.isEmpty())
        body["model"] = str(model);
    return toBytes(body);
}

QByteArray messagesBody(const QString &text)
{
    return toBytes({{"model", "claude-test"},
                    {"max_tokens", 16},
                    {"messages", json::array({{{"role", "user"}, {"content", str(text)}}})}});
}

QUrl withPath(QUrl url, const QString &path)
{
    url.setPath(path);
    return url;
}

QByteArray rawRequest(const QByteArray &method, const QByteArray &path, const QByteArray &body,
                      const QByteArray &extraHeaders = {})
{
    QByteArray out = method + ' ' + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (!body.isEmpty() || method == "POST")
        out +=
            "Content-Type: application/json\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\n";
    out += extraHeaders + "\r\n" + body;
    return out;
}

/// A client socket that accumulates what it reads and splits it into responses.
class RawClient
{
public:
    explicit RawClient(quint16 port)
    {
        QObject::connect(&m_socket, &QTcpSocket::readyRead, &m_socket,
                         [this] { m_data += m_socket.readAll(); });
        m_socket.connectToHost(QHostAddress(QHostAddress::LocalHost), port);
    }

    bool waitConnected()
    {
        if (m_socket.state() == QAbstractSocket::ConnectedState)
            return true;
        QSignalSpy spy(&m_socket, &QTcpSocket::connected);
        return spy.wait(5000);
    }

    void send(const QByteArray &bytes) { m_socket.write(bytes); }
    QTcpSocket &socket() { return m_socket; }
    const QByteArray &data() const { return m_data; }

    /// Complete responses received so far (bodies framed by Content-Length).
    QList<RawResponse> responses() const
    {
        QList<RawResponse> out;
        qsizetype pos = 0;
        while (true) {
            const qsizetype end = m_data.indexOf("\r\n\r\n", pos);
            if (end < 0)
                break;
            const QList<QByteArray> lines = m_data.mid(pos, end - pos).split('\n');
            RawResponse response;
            const QList<QByteArray> statusLine = lines.first().trimmed().split(' ');
            response.status = statusLine.size() > 1 ? statusLine.at(1).toInt() : -1;
            for (qsizetype i = 1; i < lines.size(); ++i) {
                const qsizetype colon = lines.at(i).indexOf(':');
                if (colon > 0)
                    response.headers.insert(lines.at(i).left(colon).trimmed().toLower(),
                                            lines.at(i).mid(colon + 1).trimmed());
            }
            const qsizetype length = response.headers.value("content-length", "0").toLongLong();
            if (m_data.size() < end + 4 + length)
                break;
            response.body = m_data.mid(end + 4, length);
            out.append(response);
            pos = end + 4 + length;
        }
        return out;
    }

private:
    QTcpSocket m_socket;
    QByteArray m_data;
};

/// The string at a JSON pointer, or "" when absent (never throws, so a wrong shape fails a check
/// instead of aborting the run).
std::string textAt(const json &value, const char *pointer)
{
    const json::json_pointer at(pointer);
    if (!value.is_structured() || !value.contains(at) || !value.at(at).is_string())
        return {};
    return value.at(at).get<std::string>();
}

/// The integer at a JSON pointer, or -1 when absent.
qint64 intAt(const json &value, const char *pointer)
{
    const json::json_pointer at(pointer);
    if (!value.is_structured() || !value.contains(at) || !value.at(at).is_number_integer())
        return -1;
    return value.at(at).get<qint64>();
}

bool hasAt(const json &value, const char *pointer)
{
    return value.is_structured() && value.contains(json::json_pointer(pointer));
}

/// The first response in `data` as far as it arrived: status, announced length and body bytes so far.
struct PartialResponse
{
    int status = 0; ///< 0 until the headers are complete
    qint64 contentLength = -1;
    QByteArray body;
};

PartialResponse partialResponse(const QByteArray &data)
{
    PartialResponse out;
    const qsizetype end = data.indexOf("\r\n\r\n");
    if (end < 0)
        return out;
    const QList<QByteArray> lines = data.left(end).split('\n');
    const QList<QByteArray> statusLine = lines.first().trimmed().split(' ');
    out.status = statusLine.size() > 1 ? statusLine.at(1).toInt() : -1;
    for (const QByteArray &line : lines) {
        if (line.toLower().startsWith("content-length:"))
            out.contentLength = line.mid(15).trimmed().toLongLong();
    }
    out.body = data.mid(end + 4);
    return out;
}

bool isGoDuration(const QByteArray &text)
{
    static const QRegularExpression re(
        QStringLiteral("^(0s|[1-9][0-9]{0,2}ms|([1-9][0-9]*h)?([0-9]+m)?[0-9]+(\\.[0-9]*[1-9])?s)$"));
    return re.match(QString::fromLatin1(text)).hasMatch();
}

/// One server-sent event as it arrived.
struct SseEvent
{
    QByteArray name; ///< `event:` (empty for OpenAI's data-only events)
    QByteArray data;
    qint64 atMs = 0; ///< ms since the request was sent

    json parsed() const { return json::parse(data.begin(), data.end(), nullptr, false); }
};

/// A raw client for one connection that reads responses as they arrive: the head, then the body
/// (Content-Length, chunked, or until the close), split into SSE events stamped with their arrival
/// time. nextResponse() moves on to the next response on the same (keep-alive) connection.
class SseClient
{
public:
    explicit SseClient(quint16 port)
    {
        QObject::connect(&m_socket, &QTcpSocket::readyRead, &m_socket, [this] {
            m_data += m_socket.readAll();
            parse();
        });
        QObject::connect(&m_socket, &QTcpSocket::disconnected, &m_socket, [this] {
            m_disconnected = true;
            if (m_haveHead && !m_chunked && m_length < 0)
                m_ended = true; // a body without framing ends with the connection
        });
        m_socket.connectToHost(QHostAddress(QHostAddress::LocalHost), port);
    }

    bool waitConnected()
    {
        if (m_socket.state() == QAbstractSocket::ConnectedState)
            return true;
        QSignalSpy spy(&m_socket, &QTcpSocket::connected);
        return spy.wait(5000);
    }
    void send(const QByteArray &request)
    {
        m_clock.start();
        m_socket.write(request);
    }
    void nextResponse()
    {
        m_haveHead = m_chunked = m_ended = m_framingError = false;
        m_status = 0;
        m_length = -1;
        m_headers.clear();
        m_body.clear();
        m_eventPos = 0;
        m_events.clear();
        parse();
    }

    bool haveHead() const { return m_haveHead; }
    int status() const { return m_status; }
    QByteArray header(const char *name) const { return m_headers.value(QByteArray(name)); }
    bool hasHeader(const char *name) const { return m_headers.contains(QByteArray(name)); }
    bool isChunked() const { return m_chunked; }
    /// The body ended properly (last chunk, Content-Length reached, or the close of an unframed body).
    bool ended() const { return m_ended; }
    bool disconnected() const { return m_disconnected; }
    bool finished() const { return m_ended || m_disconnected; }
    bool framingError() const { return m_framingError; }
    const QByteArray &body() const { return m_body; }
    const QList<SseEvent> &events() const { return m_events; }

private:
    void parse()
    {
        if (!m_haveHead && !parseHead())
            return;
        if (m_ended)
            return;
        if (m_length >= 0) {
            if (m_data.size() - m_pos >= m_length) {
                m_body = m_data.mid(m_pos, m_length);
                m_pos += m_length;
                m_ended = true;
            }
            return;
        }
        if (!m_chunked) {
            m_body += m_data.mid(m_pos);
            m_pos = m_data.size();
            splitEvents();
            return;
        }
        parseChunks();
    }

    bool parseHead()
    {
        const qsizetype end = m_data.indexOf("\r\n\r\n", m_pos);
        if (end < 0)
            return false;
        const QList<QByteArray> lines = m_data.mid(m_pos, end - m_pos).split('\n');
        const QList<QByteArray> statusLine = lines.first().trimmed().split(' ');
        m_status = statusLine.size() > 1 ? statusLine.at(1).toInt() : -1;
        for (qsizetype i = 1; i < lines.size(); ++i) {
            const qsizetype colon = lines.at(i).indexOf(':');
            if (colon > 0)
                m_headers.insert(lines.at(i).left(colon).trimmed().toLower(),
                                 lines.at(i).mid(colon + 1).trimmed());
        }
        m_chunked = header("transfer-encoding") == "chunked";
        if (m_headers.contains("content-length"))
            m_length = header("content-length").toLongLong();
        m_pos = end + 4;
        m_haveHead = true;
        return true;
    }

    void parseChunks()
    {
        while (!m_ended) {
            const qsizetype lineEnd = m_data.indexOf("\r\n", m_pos);
            if (lineEnd < 0)
                return;
            bool ok = false;
            const qint64 size = m_data.mid(m_pos, lineEnd - m_pos).toLongLong(&ok, 16);
            if (!ok) {
                m_framingError = true;
                return;
            }
            if (m_data.size() < lineEnd + 2 + size + 2)
                return;
            if (m_data.mid(lineEnd + 2 + size, 2) != "\r\n") {
                m_framingError = true;
                return;
            }
            m_body += m_data.mid(lineEnd + 2, size);
            m_pos = lineEnd + 2 + size + 2;
            m_ended = size == 0;
            splitEvents();
        }
    }

    void splitEvents()
    {
        qsizetype end = 0;
        while ((end = m_body.indexOf("\n\n", m_eventPos)) >= 0) {
            SseEvent event;
            event.atMs = m_clock.elapsed();
            for (const QByteArray &line : m_body.mid(m_eventPos, end - m_eventPos).split('\n')) {
                if (line.startsWith("event: "))
                    event.name = line.mid(7);
                else if (line.startsWith("data: "))
                    event.data += line.mid(6);
            }
            m_events.append(event);
            m_eventPos = end + 2;
        }
    }

    QTcpSocket m_socket;
    QElapsedTimer m_clock;
    QByteArray m_data;
    qsizetype m_pos = 0;
    bool m_haveHead = false;
    int m_status = 0;
    QHash<QByteArray, QByteArray> m_headers; ///< names lower-cased
    bool m_chunked = false;
    qint64 m_length = -1;
    bool m_ended = false;
    bool m_disconnected = false;
    bool m_framingError = false;
    QByteArray m_body;
    qsizetype m_eventPos = 0;
    QList<SseEvent> m_events;
};

/// A reply reduced to what a streamed and a non-streamed one must agree on.
struct Assembled
{
    std::string text;
    std::string toolName;
    std::string toolArguments; ///< JSON text
    std::string finish;        ///< finish_reason / stop_reason
    qint64 promptTokens = -1;
    qint64 completionTokens = -1;
    QList<qint64> contentAtMs; ///< arrival of each content chunk (streams)
    bool done = false;         ///< [DONE] / message_stop seen

    bool operator==(const Assembled &o) const
    {
        return text == o.text && toolName == o.toolName && toolArguments == o.toolArguments &&
               finish == o.finish && promptTokens == o.promptTokens && completionTokens == o.completionTokens;
    }
};

char *toString(const Assembled &a)
{
    const std::string text = "{text \"" + a.text + "\", tool \"" + a.toolName + "\" " + a.toolArguments +
                             ", finish " + a.finish + ", usage " + std::to_string(a.promptTokens) + "/" +
                             std::to_string(a.completionTokens) + "}";
    return qstrdup(text.c_str());
}

Assembled wholeOpenAi(const json &reply)
{
    Assembled a;
    a.text = textAt(reply, "/choices/0/message/content");
    a.toolName = textAt(reply, "/choices/0/message/tool_calls/0/function/name");
    a.toolArguments = textAt(reply, "/choices/0/message/tool_calls/0/function/arguments");
    a.finish = textAt(reply, "/choices/0/finish_reason");
    a.promptTokens = intAt(reply, "/usage/prompt_tokens");
    a.completionTokens = intAt(reply, "/usage/completion_tokens");
    return a;
}

Assembled wholeAnthropic(const json &reply)
{
    Assembled a;
    if (textAt(reply, "/content/0/type") == "tool_use") {
        a.toolName = textAt(reply, "/content/0/name");
        a.toolArguments = reply.at(json::json_pointer("/content/0/input")).dump();
    } else {
        a.text = textAt(reply, "/content/0/text");
    }
    a.finish = textAt(reply, "/stop_reason");
    a.promptTokens = intAt(reply, "/usage/input_tokens");
    a.completionTokens = intAt(reply, "/usage/output_tokens");
    return a;
}

/// Assembles OpenAI chat.completion.chunk events as a client library would.
Assembled streamedOpenAi(const QList<SseEvent> &events)
{
    Assembled a;
    for (const SseEvent &event : events) {
        if (event.data == "[DONE]") {
            a.done = true;
            continue;
        }
        const json chunk = event.parsed();
        if (hasAt(chunk, "/usage/prompt_tokens")) {
            a.promptTokens = intAt(chunk, "/usage/prompt_tokens");
            a.completionTokens = intAt(chunk, "/usage/completion_tokens");
        }
        if (!hasAt(chunk, "/choices/0"))
            continue;
        const std::string content = textAt(chunk, "/choices/0/delta/content");
        const std::string arguments = textAt(chunk, "/choices/0/delta/tool_calls/0/function/arguments");
        a.text += content;
        a.toolArguments += arguments;
        if (const std::string name = textAt(chunk, "/choices/0/delta/tool_calls/0/function/name");
            !name.empty())
            a.toolName = name;
        if (!content.empty() || !arguments.empty())
            a.contentAtMs.append(event.atMs);
        if (const std::string finish = textAt(chunk, "/choices/0/finish_reason"); !finish.empty())
            a.finish = finish;
    }
    return a;
}

/// Assembles Anthropic Messages stream events as a client library would.
Assembled streamedAnthropic(const QList<SseEvent> &events)
{
    Assembled a;
    for (const SseEvent &event : events) {
        const json data = event.parsed();
        if (event.name == "message_start") {
            a.promptTokens = intAt(data, "/message/usage/input_tokens");
        } else if (event.name == "content_block_start") {
            a.toolName = textAt(data, "/content_block/name");
        } else if (event.name == "content_block_delta") {
            a.text += textAt(data, "/delta/text");
            a.toolArguments += textAt(data, "/delta/partial_json");
            a.contentAtMs.append(event.atMs);
        } else if (event.name == "message_delta") {
            a.finish = textAt(data, "/delta/stop_reason");
            a.completionTokens = intAt(data, "/usage/output_tokens");
        } else if (event.name == "message_stop") {
            a.done = true;
        }
    }
    if (!a.toolArguments.empty()) // compare as the whole reply's `input` object is dumped
        a.toolArguments = json::parse(a.toolArguments, nullptr, false).dump();
    return a;
}

/// A chat body in either dialect; `tools` adds one (or two) tools in that dialect's shape.
json requestBody(bool anthropic, const std::string &text, bool stream, int tools = 0)
{
    json body = {{"model", anthropic ? "claude-test" : "gpt-test"},
                 {"messages", json::array({{{"role", "user"}, {"content", text}}})}};
    if (anthropic)
        body["max_tokens"] = 64;
    if (stream)
        body["stream"] = true;
    for (int i = 0; i < tools; ++i) {
        const std::string name = i == 0 ? "get_weather" : "get_time";
        const json schema = {{"type", "object"}, {"properties", {{"text", {{"type", "string"}}}}}};
        body["tools"].push_back(
            anthropic ? json{{"name", name}, {"input_schema", schema}}
                      : json{{"type", "function"}, {"function", {{"name", name}, {"parameters", schema}}}});
    }
    return body;
}

QByteArray apiPath(bool anthropic)
{
    return anthropic ? QByteArrayLiteral("/v1/messages") : QByteArrayLiteral("/v1/chat/completions");
}

/// Sends `body` streamed (or not) on a new raw connection and reads until the body ends or the
/// connection closes (at most 10 s).
std::unique_ptr<SseClient> openStream(quint16 port, bool anthropic, const json &body,
                                      const QByteArray &version = QByteArrayLiteral("HTTP/1.1"))
{
    auto client = std::make_unique<SseClient>(port);
    if (!client->waitConnected())
        return client;
    QByteArray request = rawRequest("POST", apiPath(anthropic), toBytes(body));
    request.replace("HTTP/1.1\r\n", QByteArray(version + "\r\n"));
    client->send(request);
    [[maybe_unused]] const bool finished = QTest::qWaitFor([&] { return client->finished(); }, 10000);
    return client; // the caller checks how it finished
}

/// SSE events of a body read whole (QNetworkAccessManager).
QList<SseEvent> eventsOf(const QByteArray &body)
{
    QList<SseEvent> events;
    for (const QByteArray &block : body.split('\n')) {
        if (block.startsWith("event: ")) {
            events.append({block.mid(7), {}, 0});
        } else if (block.startsWith("data: ")) {
            if (events.isEmpty() || !events.last().data.isEmpty())
                events.append(SseEvent{});
            events.last().data = block.mid(6);
        }
    }
    return events;
}

QList<QByteArray> namesOf(const QList<SseEvent> &events)
{
    QList<QByteArray> names;
    for (const SseEvent &event : events)
        names.append(event.name);
    return names;
}

} // namespace

class tst_Simulator : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void chatCompletionShape();
    void chatDefaultModel();
    void messagesShape();
    void basePathsDoNotMatter_data();
    void basePathsDoNotMatter();
    void health();
    void errors_data();
    void errors();
    void requireKey();
    void keepAliveSequential();
    void pipelinedAnsweredInOrder();
    void connectionClose();
    void chunkedRejected();
    void oversizedHeaders();
    void oversizedBody();
    void rateLimit();
    void rateLimitAnthropicHeaders();
    void rateLimitLongReset();
    void rateLimitRefills();
    void scriptedStatusTimes();
    void scripted429RetryAfter();
    void scriptedInsufficientQuota();
    void scripted529();
    void scriptedReset();
    void scriptedDelay();
    void errorRate();
    void errorRatePartial();
    void resetRate();
    void latency();
    void jitterUsesRandomSource();
    void concurrentConnections();
    void statsCounts();
    void recording();
    void clientDisconnectsBeforeDelayedReply();
    void closeWithPendingReply();
    void scriptedTruncate();
    void scriptedResetMidBody();
    void scriptedGarbageBody();
    void scriptedDrip();
    void scriptedHang();
    void scriptedRedirect_data();
    void scriptedRedirect();
    void tls();
    void tlsSetupErrors();
    void rateLimitManualClock();
    void delaysUseInjectedClock();
    void streamOpenAiShape();
    void streamOpenAiUsage();
    void streamAnthropicShape();
    void streamEqualsWhole_data();
    void streamEqualsWhole();
    void toolCallsWhole();
    void toolCallsStreamed_data();
    void toolCallsStreamed();
    void streamTiming_data();
    void streamTiming();
    void streamOverQnam();
    void streamHttp10();
    void streamScriptedStatusIsWhole();
    void streamCutAfter_data();
    void streamCutAfter();
    void streamErrorAfter_data();
    void streamErrorAfter();
    void streamStall();
    void streamFaultTimes();
    void streamConfigLive();

private:
    HttpResult post(const QUrl &url, const QByteArray &body,
                    const QList<QPair<QByteArray, QByteArray>> &headers = {});
    HttpResult get(const QUrl &url);
    QNetworkReply *start(const QByteArray &verb, const QUrl &url, const QByteArray &body,
                         const QList<QPair<QByteArray, QByteArray>> &headers = {});
    static HttpResult collect(QNetworkReply *reply);
    HttpResult wait(QNetworkReply *reply);
    /// The same body sent not streamed, to a fresh connection: the reference a stream must equal.
    Assembled whole(Simulator &sim, bool anthropic, json body);

    std::unique_ptr<QNetworkAccessManager> m_nam;
};

void tst_Simulator::init()
{
    m_nam = std::make_unique<QNetworkAccessManager>();
}

void tst_Simulator::cleanup()
{
    m_nam.reset();
}

QNetworkReply *tst_Simulator::start(const QByteArray &verb, const QUrl &url, const QByteArray &body,
                                    const QList<QPair<QByteArray, QByteArray>> &headers)
{
    QNetworkRequest request(url);
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::ManualRedirectPolicy);
    if (!body.isEmpty())
        request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    for (const auto &[name, value] : headers)
        request.setRawHeader(name, value);
    // QNAM only knows HEAD replies carry no body when they come from head().
    QNetworkReply *reply =
        verb == "HEAD" ? m_nam->head(request) : m_nam->sendCustomRequest(request, verb, body);
    return reply;
}

HttpResult tst_Simulator::collect(QNetworkReply *reply)
{
    HttpResult result;
    result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    result.error = reply->error();
    result.body = reply->readAll();
    for (const auto &[name, value] : reply->rawHeaderPairs())
        result.headers.insert(name.toLower(), value);
    return result;
}

HttpResult tst_Simulator::wait(QNetworkReply *reply)
{
    std::unique_ptr<QNetworkReply> owner(reply);
    if (!reply->isFinished()) {
        QSignalSpy spy(reply, &QNetworkReply::finished);
        if (!spy.wait(10000))
            return {};
    }
    return collect(reply);
}

HttpResult tst_Simulator::post(const QUrl &url, const QByteArray &body,
                               const QList<QPair<QByteArray, QByteArray>> &headers)
{
    return wait(start("POST", url, body, headers));
}

HttpResult tst_Simulator::get(const QUrl &url)
{
    return wait(start("GET", url, {}));
}

void tst_Simulator::chatCompletionShape()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    QVERIFY(sim.port() != 0);
    QCOMPARE(sim.chatUrl().toString(),
             QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(sim.port()));

    const std::string user = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"; // 72
    const json body = {{"model", "gpt-test"},
                       {"messages", json::array({{{"role", "system"}, {"content", "Be brief."}},
                                                 {{"role", "user"}, {"content", user}}})}};
    const qint64 before = QDateTime::currentSecsSinceEpoch();
    const HttpResult r = post(sim.chatUrl(), toBytes(body));
    QCOMPARE(r.status, 200);
    QCOMPARE(r.error, QNetworkReply::NoError);
    QCOMPARE(r.header("content-type"), QByteArrayLiteral("application/json"));
    QCOMPARE(r.header("content-length").toLongLong(), r.body.size());

    const json reply = r.parsed();
    QVERIFY(!reply.is_discarded());
    QVERIFY(textAt(reply, "/id").starts_with("chatcmpl-sim-"));
    QCOMPARE(textAt(reply, "/object"), std::string("chat.completion"));
    QCOMPARE(textAt(reply, "/model"), std::string("gpt-test"));
    const qint64 created = intAt(reply, "/created");
    QVERIFY(created >= before && created <= QDateTime::currentSecsSinceEpoch());
    QCOMPARE(intAt(reply, "/choices/0/index"), qint64(0));
    QCOMPARE(textAt(reply, "/choices/0/finish_reason"), std::string("stop"));
    QCOMPARE(textAt(reply, "/choices/0/message/role"), std::string("assistant"));
    const std::string text = textAt(reply, "/choices/0/message/content");
    QCOMPARE(text, "Simulated reply to: " + user.substr(0, 60));

    const qint64 prompt = (9 + 72) / 4;
    const qint64 completion = qint64(text.size()) / 4;
    QCOMPARE(intAt(reply, "/usage/prompt_tokens"), prompt);
    QCOMPARE(intAt(reply, "/usage/completion_tokens"), completion);
    QCOMPARE(intAt(reply, "/usage/total_tokens"), prompt + completion);
    // No rate limit configured: no rate-limit headers.
    QVERIFY(!r.headers.contains("x-ratelimit-limit-requests"));
}

void tst_Simulator::chatDefaultModel()
{
    SimulatorConfig config;
    config.model = QStringLiteral("my-default");
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    const HttpResult r = post(sim.chatUrl(), chatBody(QStringLiteral("hi")));
    QCOMPARE(r.status, 200);
    const json reply = r.parsed();
    QCOMPARE(textAt(reply, "/model"), std::string("my-default"));
    // Short texts still count at least one token each way.
    QCOMPARE(intAt(reply, "/usage/prompt_tokens"), qint64(1));
    // Ids count up.
    const HttpResult second = post(sim.chatUrl(), chatBody(QStringLiteral("hi")));
    QVERIFY(textAt(second.parsed(), "/id") != textAt(reply, "/id"));
}

void tst_Simulator::messagesShape()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    QCOMPARE(sim.messagesUrl().path(), QStringLiteral("/v1/messages"));

    const json body = {
        {"model", "claude-test"},
        {"max_tokens", 64},
        {"system", "Sys"},
        {"messages", json::array({{{"role", "user"},
                                   {"content", json::array({{{"type", "text"}, {"text", "Hello"}},
                                                            {{"type", "text"}, {"text", "there"}}})}}})}};
    const HttpResult r = post(sim.messagesUrl(), toBytes(body), {{"x-api-key", "k"}});
    QCOMPARE(r.status, 200);
    QCOMPARE(r.header("content-type"), QByteArrayLiteral("application/json"));
    const json reply = r.parsed();
    QVERIFY(!reply.is_discarded());
    QVERIFY(textAt(reply, "/id").starts_with("msg_sim_"));
    QCOMPARE(textAt(reply, "/type"), std::string("message"));
    QCOMPARE(textAt(reply, "/role"), std::string("assistant"));
    QCOMPARE(textAt(reply, "/model"), std::string("claude-test"));
    QCOMPARE(textAt(reply, "/stop_reason"), std::string("end_turn"));
    QCOMPARE(textAt(reply, "/content/0/type"), std::string("text"));
    const std::string text = textAt(reply, "/content/0/text");
    QCOMPARE(text, std::string("Simulated reply to: Hello\nthere"));
    QCOMPARE(intAt(reply, "/usage/input_tokens"), qint64((3 + 5 + 5) / 4));
    QCOMPARE(intAt(reply, "/usage/output_tokens"), qint64(text.size()) / 4);

    // A plain string content works as well.
    const HttpResult plain = post(sim.messagesUrl(), messagesBody(QStringLiteral("plain text")));
    QCOMPARE(plain.status, 200);
    QCOMPARE(textAt(plain.parsed(), "/content/0/text"), std::string("Simulated reply to: plain text"));
}

void tst_Simulator::basePathsDoNotMatter_data()
{
    QTest::addColumn<QString>("path");
    QTest::addColumn<bool>("anthropic");
    QTest::newRow("openai root") << QStringLiteral("/chat/completions") << false;
    QTest::newRow("openai prefixed") << QStringLiteral("/openai/deploy/v1/chat/completions") << false;
    QTest::newRow("openai with query") << QStringLiteral("/v1/chat/completions?api-version=1") << false;
    QTest::newRow("anthropic prefixed") << QStringLiteral("/anthropic/v1/messages") << true;
}

void tst_Simulator::basePathsDoNotMatter()
{
    QFETCH(QString, path);
    QFETCH(bool, anthropic);
    Simulator sim;
    QVERIFY(sim.listen().ok());
    QUrl url = sim.chatUrl();
    const qsizetype query = path.indexOf(QLatin1Char('?'));
    url.setPath(query < 0 ? path : path.left(query));
    if (query >= 0)
        url.setQuery(path.mid(query + 1));
    const HttpResult r =
        post(url, anthropic ? messagesBody(QStringLiteral("x")) : chatBody(QStringLiteral("x")));
    QCOMPARE(r.status, 200);
    const json reply = r.parsed();
    QCOMPARE(hasAt(reply, "/choices"), !anthropic);
    QCOMPARE(hasAt(reply, "/content"), anthropic);
}

void tst_Simulator::health()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    const HttpResult r = get(withPath(sim.chatUrl(), QStringLiteral("/health")));
    QCOMPARE(r.status, 200);
    QCOMPARE(r.header("content-type"), QByteArrayLiteral("application/json"));
    QCOMPARE(textAt(r.parsed(), "/status"), std::string("ok"));

    // HEAD: same headers, no body; the keep-alive connection stays in frame for the next request.
    const HttpResult head = wait(start("HEAD", withPath(sim.chatUrl(), QStringLiteral("/health")), {}));
    QCOMPARE(head.status, 200);
    QVERIFY(head.body.isEmpty());
    QCOMPARE(get(withPath(sim.chatUrl(), QStringLiteral("/health"))).status, 200);
    QCOMPARE(sim.stats().connections, 1);
}

void tst_Simulator::errors_data()
{
    QTest::addColumn<QByteArray>("verb");
    QTest::addColumn<QString>("path");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<int>("status");
    QTest::addColumn<bool>("anthropicShape");

    const QByteArray ok = chatBody(QStringLiteral("x"));
    QTest::newRow("unknown path") << QByteArray("POST") << QStringLiteral("/v1/embeddings") << ok << 404
                                  << false;
    QTest::newRow("unknown GET") << QByteArray("GET") << QStringLiteral("/") << QByteArray() << 404 << false;
    QTest::newRow("GET chat") << QByteArray("GET") << QStringLiteral("/v1/chat/completions") << QByteArray()
                              << 405 << false;
    QTest::newRow("PUT messages") << QByteArray("PUT") << QStringLiteral("/v1/messages") << ok << 405 << true;
    QTest::newRow("POST health") << QByteArray("POST") << QStringLiteral("/health") << ok << 405 << false;
    QTest::newRow("not json") << QByteArray("POST") << QStringLiteral("/v1/chat/completions")
                              << QByteArray("{not json") << 400 << false;
    QTest::newRow("json array") << QByteArray("POST") << QStringLiteral("/v1/chat/completions")
                                << QByteArray("[1,2]") << 400 << false;
    QTest::newRow("no messages") << QByteArray("POST") << QStringLiteral("/v1/chat/completions")
                                 << QByteArray("{\"model\":\"m\"}") << 400 << false;
    QTest::newRow("empty messages") << QByteArray("POST") << QStringLiteral("/v1/chat/completions")
                                    << QByteArray("{\"messages\":[]}") << 400 << false;
    QTest::newRow("too deep") << QByteArray("POST") << QStringLiteral("/v1/chat/completions")
                              << QByteArray("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"x\":") +
                                     QByteArray(200, '[') + QByteArray(200, ']') + '}'
                              << 400 << false;
    QTest::newRow("messages not json")
        << QByteArray("POST") << QStringLiteral("/v1/messages") << QByteArray("nope") << 400 << true;
    QTest::newRow("messages no messages") << QByteArray("POST") << QStringLiteral("/v1/messages")
                                          << QByteArray("{\"messages\":\"x\"}") << 400 << true;
}

void tst_Simulator::errors()
{
    QFETCH(QByteArray, verb);
    QFETCH(QString, path);
    QFETCH(QByteArray, body);
    QFETCH(int, status);
    QFETCH(bool, anthropicShape);

    Simulator sim;
    QVERIFY(sim.listen().ok());
    const HttpResult r = wait(start(verb, withPath(sim.chatUrl(), path), body));
    QCOMPARE(r.status, status);
    QCOMPARE(r.header("content-type"), QByteArrayLiteral("application/json"));
    const json reply = r.parsed();
    QVERIFY(!reply.is_discarded());
    if (anthropicShape) {
        QCOMPARE(textAt(reply, "/type"), std::string("error"));
        QVERIFY(hasAt(reply, "/error/type"));
        QVERIFY(hasAt(reply, "/error/message"));
    } else {
        QVERIFY(!textAt(reply, "/error/message").empty());
        QVERIFY(hasAt(reply, "/error/type"));
        QVERIFY(hasAt(reply, "/error/code"));
    }
    if (status == 400) {
        const std::string type = textAt(reply, "/error/type");
        QCOMPARE(type, std::string("invalid_request_error"));
    }
    if (status == 405)
        QVERIFY(!r.header("allow").isEmpty());
    QCOMPARE(sim.stats().clientErrors, 1);
    QCOMPARE(sim.stats().ok, 0);
}

void tst_Simulator::requireKey()
{
    const QByteArray key = "sk-secret-123";
    SimulatorConfig config;
    config.requireKey = QString::fromLatin1(key);
    Simulator sim(config);
    sim.setRecording(true);
    QVERIFY(sim.listen().ok());

    const QByteArray chat = chatBody(QStringLiteral("hello"));
    QCOMPARE(post(sim.chatUrl(), chat).status, 401);
    const HttpResult wrong = post(sim.chatUrl(), chat, {{"Authorization", "Bearer sk-wrong"}});
    QCOMPARE(wrong.status, 401);
    QCOMPARE(textAt(wrong.parsed(), "/error/code"), std::string("invalid_api_key"));
    QCOMPARE(post(sim.chatUrl(), chat, {{"Authorization", "Bearer " + key}}).status, 200);
    // The chat route wants a bearer token, not x-api-key.
    QCOMPARE(post(sim.chatUrl(), chat, {{"x-api-key", key}}).status, 401);

    const QByteArray messages = messagesBody(QStringLiteral("hello"));
    const HttpResult wrongMessages = post(sim.messagesUrl(), messages, {{"x-api-key", "nope"}});
    QCOMPARE(wrongMessages.status, 401);
    QCOMPARE(textAt(wrongMessages.parsed(), "/error/type"), std::string("authentication_error"));
    QCOMPARE(post(sim.messagesUrl(), messages, {{"x-api-key", key}}).status, 200);

    QCOMPARE(sim.stats().ok, 2);
    QCOMPARE(sim.stats().clientErrors, 4);
    const QList<Simulator::Received> received = sim.received();
    QCOMPARE(received.size(), 6);
    const QStringList expected = {QStringLiteral("absent"),  QStringLiteral("present"),
                                  QStringLiteral("present"), QStringLiteral("present"),
                                  QStringLiteral("present"), QStringLiteral("present")};
    for (qsizetype i = 0; i < received.size(); ++i) {
        QCOMPARE(received.at(i).authorization, expected.at(i));
        QVERIFY(!received.at(i).authorization.contains(QLatin1String("secret")));
        QVERIFY(!received.at(i).text.contains(QLatin1String("secret")));
        QVERIFY(!received.at(i).path.contains(QLatin1String("secret")));
    }
    QCOMPARE(received.at(0).status, 401);
    QCOMPARE(received.at(2).status, 200);
}

void tst_Simulator::keepAliveSequential()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    RawClient client(sim.port());
    QVERIFY(client.waitConnected());
    for (int i = 1; i <= 3; ++i) {
        client.send(rawRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("turn %1").arg(i))));
        QTRY_COMPARE(client.responses().size(), i);
        const RawResponse response = client.responses().at(i - 1);
        QCOMPARE(response.status, 200);
        QCOMPARE(textAt(response.parsed(), "/choices/0/message/content"),
                 "Simulated reply to: turn " + std::to_string(i));
    }
    QCOMPARE(client.socket().state(), QAbstractSocket::ConnectedState);
    QCOMPARE(sim.stats().connections, 1);
    QCOMPARE(sim.stats().requests, 3);
}

void tst_Simulator::pipelinedAnsweredInOrder()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    RawClient client(sim.port());
    QVERIFY(client.waitConnected());
    // The first answer is delayed: the later ones, ready at once, must still wait their turn.
    QByteArray bytes =
        rawRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("one @sim(delay_ms=150)")));
    bytes += rawRequest("GET", "/health", {});
    bytes += rawRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("three")));
    bytes += rawRequest("POST", "/nowhere", chatBody(QStringLiteral("four")));
    client.send(bytes);
    QTRY_COMPARE(client.responses().size(), 4);
    const QList<RawResponse> responses = client.responses();
    QCOMPARE(responses.at(0).status, 200);
    QCOMPARE(textAt(responses.at(0).parsed(), "/choices/0/message/content"),
             std::string("Simulated reply to: one @sim(delay_ms=150)"));
    QCOMPARE(responses.at(1).status, 200);
    QCOMPARE(textAt(responses.at(1).parsed(), "/status"), std::string("ok"));
    QCOMPARE(textAt(responses.at(2).parsed(), "/choices/0/message/content"),
             std::string("Simulated reply to: three"));
    QCOMPARE(responses.at(3).status, 404);
    QCOMPARE(sim.stats().connections, 1);
    QCOMPARE(sim.stats().requests, 4);

    // A request split into tiny pieces is reassembled.
    const QByteArray split = rawRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("five")));
    for (qsizetype i = 0; i < split.size(); i += 7) {
        client.send(split.mid(i, 7));
        QVERIFY(client.socket().waitForBytesWritten(1000) || client.socket().bytesToWrite() == 0);
    }
    QTRY_COMPARE(client.responses().size(), 5);
    QCOMPARE(client.responses().at(4).status, 200);
}

void tst_Simulator::connectionClose()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    RawClient client(sim.port());
    QVERIFY(client.waitConnected());
    QSignalSpy disconnected(&client.socket(), &QTcpSocket::disconnected);
    client.send(
        rawRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("bye")), "Connection: close\r\n") +
        rawRequest("GET", "/health", {}));
    QTRY_VERIFY(disconnected.count() == 1);
    QCOMPARE(client.responses().size(), 1); // the request after "close" is not answered
    QCOMPARE(client.responses().at(0).status, 200);
    QCOMPARE(client.responses().at(0).headers.value("connection"), QByteArrayLiteral("close"));
    QCOMPARE(sim.stats().requests, 1);

    // HTTP/1.0 closes after one answer as well.
    RawClient old(sim.port());
    QVERIFY(old.waitConnected());
    QSignalSpy oldDisconnected(&old.socket(), &QTcpSocket::disconnected);
    old.send("GET /health HTTP/1.0\r\n\r\n");
    QTRY_VERIFY(oldDisconnected.count() == 1);
    QCOMPARE(old.responses().size(), 1);
    QCOMPARE(old.responses().at(0).status, 200);
}

void tst_Simulator::chunkedRejected()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    RawClient client(sim.port());
    QVERIFY(client.waitConnected());
    QSignalSpy disconnected(&client.socket(), &QTcpSocket::disconnected);
    client.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5\r\nhello\r\n0\r\n\r\n");
    QTRY_VERIFY(disconnected.count() == 1);
    QCOMPARE(client.responses().size(), 1);
    QCOMPARE(client.responses().at(0).status, 411);
    QCOMPARE(client.responses().at(0).headers.value("content-type"), QByteArrayLiteral("application/json"));
    QCOMPARE(sim.stats().clientErrors, 1);
}

void tst_Simulator::oversizedHeaders()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    RawClient client(sim.port());
    QVERIFY(client.waitConnected());
    QSignalSpy disconnected(&client.socket(), &QTcpSocket::disconnected);
    client.send("GET /health HTTP/1.1\r\nX-Big: " + QByteArray(70 * 1024, 'a'));
    QTRY_VERIFY(disconnected.count() == 1);
    QCOMPARE(client.responses().size(), 1);
    QCOMPARE(client.responses().at(0).status, 431);
}

void tst_Simulator::oversizedBody()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    RawClient client(sim.port());
    QVERIFY(client.waitConnected());
    QSignalSpy disconnected(&client.socket(), &QTcpSocket::disconnected);
    // Only the headers are sent: the answer must not wait for 40 MiB.
    client.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 41943040\r\n\r\n");
    QTRY_VERIFY(disconnected.count() == 1);
    QCOMPARE(client.responses().size(), 1);
    QCOMPARE(client.responses().at(0).status, 413);
}

void tst_Simulator::rateLimit()
{
    SimulatorConfig config;
    config.rps = 5;
    config.burst = 2;
    Simulator sim(config);
    QVERIFY(sim.listen().ok());

    QList<QNetworkReply *> replies;
    for (int i = 0; i < 10; ++i)
        replies.append(start("POST", sim.chatUrl(), chatBody(QStringLiteral("r%1").arg(i))));
    QTRY_VERIFY_WITH_TIMEOUT(
        std::all_of(replies.begin(), replies.end(), [](QNetworkReply *r) { return r->isFinished(); }), 10000);
    int ok = 0;
    int limited = 0;
    for (QNetworkReply *reply : replies) {
        const HttpResult r = wait(reply);
        QVERIFY(isGoDuration(r.header("x-ratelimit-reset-requests")));
        QCOMPARE(r.header("x-ratelimit-limit-requests"), QByteArrayLiteral("300"));
        const QByteArray remaining = r.header("x-ratelimit-remaining-requests");
        QVERIFY(!remaining.isEmpty());
        QVERIFY(remaining.toInt() >= 0 && remaining.toInt() <= 1);
        if (r.status == 200) {
            ++ok;
            QVERIFY(!r.headers.contains("retry-after"));
            continue;
        }
        QCOMPARE(r.status, 429);
        ++limited;
        QCOMPARE(remaining, QByteArrayLiteral("0"));
        bool okInt = false;
        const int retryAfter = r.header("retry-after").toInt(&okInt);
        QVERIFY(okInt);
        QCOMPARE(retryAfter, 1); // one token takes at most 200 ms: rounded up to one second
        const int retryAfterMs = r.header("retry-after-ms").toInt(&okInt);
        QVERIFY(okInt);
        QVERIFY2(retryAfterMs >= 1 && retryAfterMs <= 200, r.header("retry-after-ms").constData());
        const json body = r.parsed();
        QCOMPARE(textAt(body, "/error/code"), std::string("rate_limit_exceeded"));
        QCOMPARE(textAt(body, "/error/type"), std::string("requests"));
        QVERIFY(textAt(body, "/error/message").starts_with("Rate limit reached"));
    }
    QCOMPARE(ok, 2);
    QCOMPARE(limited, 8);
    QCOMPARE(sim.stats().ok, 2);
    QCOMPARE(sim.stats().rateLimited, 8);
    QCOMPARE(sim.stats().requests, 10);
}

void tst_Simulator::rateLimitAnthropicHeaders()
{
    SimulatorConfig config;
    config.rps = 2;
    config.burst = 1;
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    const QDateTime before = QDateTime::currentDateTimeUtc();
    const HttpResult first = post(sim.messagesUrl(), messagesBody(QStringLiteral("a")));
    const HttpResult second = post(sim.messagesUrl(), messagesBody(QStringLiteral("b")));
    QCOMPARE(first.status, 200);
    QCOMPARE(second.status, 429);
    for (const HttpResult &r : {first, second}) {
        QCOMPARE(r.header("anthropic-ratelimit-requests-limit"), QByteArrayLiteral("120"));
        QCOMPARE(r.header("anthropic-ratelimit-requests-remaining"), QByteArrayLiteral("0"));
        QVERIFY(!r.headers.contains("x-ratelimit-limit-requests"));
        const QByteArray reset = r.header("anthropic-ratelimit-requests-reset");
        QVERIFY2(reset.endsWith('Z'), reset.constData());
        const QDateTime at = QDateTime::fromString(QString::fromLatin1(reset), Qt::ISODate);
        QVERIFY2(at.isValid(), reset.constData());
        QVERIFY(at >= before);
        QVERIFY(at <= before.addSecs(3));
    }
    QVERIFY(second.header("retry-after").toInt() >= 1);
    QVERIFY(second.header("retry-after-ms").toInt() >= 1);
    const json body = second.parsed();
    QCOMPARE(textAt(body, "/type"), std::string("error"));
    QCOMPARE(textAt(body, "/error/type"), std::string("rate_limit_error"));
}

void tst_Simulator::rateLimitLongReset()
{
    SimulatorConfig config;
    config.rps = 0.01; // one token per 100 s
    config.burst = 2;
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    const HttpResult r = post(sim.chatUrl(), chatBody(QStringLiteral("x")));
    QCOMPARE(r.status, 200);
    QCOMPARE(r.header("x-ratelimit-limit-requests"), QByteArrayLiteral("1"));
    QCOMPARE(r.header("x-ratelimit-remaining-requests"), QByteArrayLiteral("1"));
    const QByteArray reset = r.header("x-ratelimit-reset-requests");
    QVERIFY2(isGoDuration(reset), reset.constData());
    // 100 s to refill one token, less the little time that passed: "1m39.9xxs" or "1m40s".
    QVERIFY2(reset.startsWith("1m39.") || reset == "1m40s", reset.constData());
}

void tst_Simulator::rateLimitRefills()
{
    SimulatorConfig config;
    config.rps = 20;
    config.burst = 1;
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    QCOMPARE(post(sim.chatUrl(), chatBody(QStringLiteral("a"))).status, 200);
    const HttpResult limited = post(sim.chatUrl(), chatBody(QStringLiteral("b")));
    QCOMPARE(limited.status, 429);
    QVERIFY(limited.header("retry-after-ms").toInt() <= 50);
    // The bucket refills at 20/s: a retry succeeds shortly (bounded polling, no fixed sleep).
    // QTRY evaluates its expression once more at the end: latch the first success.
    bool refilled = false;
    const auto retry = [&] {
        if (!refilled)
            refilled = post(sim.chatUrl(), chatBody(QStringLiteral("c"))).status == 200;
        return refilled;
    };
    QTRY_VERIFY_WITH_TIMEOUT(retry(), 2000);
    QCOMPARE(sim.stats().ok, 2);

    // Lifting the limit live: no more 429s, no rate-limit headers.
    config.rps = 0;
    sim.setConfig(config);
    for (int i = 0; i < 3; ++i) {
        const HttpResult r = post(sim.chatUrl(), chatBody(QStringLiteral("d")));
        QCOMPARE(r.status, 200);
        QVERIFY(!r.headers.contains("x-ratelimit-remaining-requests"));
    }
}

void tst_Simulator::scriptedStatusTimes()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    const QByteArray body = chatBody(QStringLiteral("flaky @sim(status=500,times=2)"));
    const HttpResult first = post(sim.chatUrl(), body);
    QCOMPARE(first.status, 500);
    const json error = first.parsed();
    QCOMPARE(textAt(error, "/error/type"), std::string("server_error"));
    QCOMPARE(textAt(error, "/error/message"), std::string("Simulated server error"));
    QCOMPARE(post(sim.chatUrl(), body).status, 500);
    QCOMPARE(post(sim.chatUrl(), body).status, 200);
    QCOMPARE(post(sim.chatUrl(), body).status, 200);
    // Another text with the same directive has its own counter.
    QCOMPARE(post(sim.chatUrl(), chatBody(QStringLiteral("other @sim(status=500,times=2)"))).status, 500);
    // Without times: always.
    const QByteArray always = chatBody(QStringLiteral("@sim(status=503)"));
    for (int i = 0; i < 3; ++i)
        QCOMPARE(post(sim.chatUrl(), always).status, 503);
    QCOMPARE(sim.stats().serverErrors, 6);
    QCOMPARE(sim.stats().ok, 2);
}

void tst_Simulator::scripted429RetryAfter()
{
    SimulatorConfig config;
    config.errorRate = 1.0; // a scripted request is never also failed at random
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    const HttpResult r =
        post(sim.chatUrl(), chatBody(QStringLiteral("@sim(status=429,retry_after=7,retry_after_ms=6500) x")));
    QCOMPARE(r.status, 429);
    QCOMPARE(r.header("retry-after"), QByteArrayLiteral("7"));
    QCOMPARE(r.header("retry-after-ms"), QByteArrayLiteral("6500"));
    const json body = r.parsed();
    QCOMPARE(textAt(body, "/error/code"), std::string("rate_limit_exceeded"));
    QCOMPARE(textAt(body, "/error/type"), std::string("requests"));

    const HttpResult bare = post(sim.chatUrl(), chatBody(QStringLiteral("@sim(status=429) y")));
    QCOMPARE(bare.status, 429);
    QVERIFY(!bare.headers.contains("retry-after"));
    QVERIFY(!bare.headers.contains("retry-after-ms"));
    QCOMPARE(sim.stats().rateLimited, 2);
    QCOMPARE(sim.stats().serverErrors, 0);
}

void tst_Simulator::scriptedInsufficientQuota()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    const HttpResult r =
        post(sim.chatUrl(), chatBody(QStringLiteral("@sim(status=429,code=insufficient_quota)")));
    QCOMPARE(r.status, 429);
    const json body = r.parsed();
    QCOMPARE(textAt(body, "/error/code"), std::string("insufficient_quota"));
    QCOMPARE(textAt(body, "/error/type"), std::string("insufficient_quota"));
    // The code alone implies 429.
    QCOMPARE(post(sim.chatUrl(), chatBody(QStringLiteral("@sim(code=insufficient_quota)"))).status, 429);
}

void tst_Simulator::scripted529()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    const HttpResult r =
        post(sim.messagesUrl(), messagesBody(QStringLiteral("@sim(status=529,times=1) busy")));
    QCOMPARE(r.status, 529);
    const json body = r.parsed();
    QCOMPARE(textAt(body, "/type"), std::string("error"));
    QCOMPARE(textAt(body, "/error/type"), std::string("overloaded_error"));
    QCOMPARE(post(sim.messagesUrl(), messagesBody(QStringLiteral("@sim(status=529,times=1) busy"))).status,
             200);
    QCOMPARE(sim.stats().serverErrors, 1);
}

void tst_Simulator::scriptedReset()
{
    Simulator sim;
    sim.setRecording(true);
    QVERIFY(sim.listen().ok());
    const HttpResult r = post(sim.chatUrl(), chatBody(QStringLiteral("@sim(reset=1) boom")));
    QCOMPARE(r.status, 0);
    QCOMPARE(r.error, QNetworkReply::RemoteHostClosedError);
    QVERIFY(r.body.isEmpty());
    // QNAM silently resends (once) a request whose connection closed before any reply byte, so the
    // simulator may see it twice.
    QVERIFY(sim.stats().resets >= 1);
    QCOMPARE(sim.stats().resets, sim.stats().requests);
    QCOMPARE(sim.stats().ok, 0);
    QVERIFY(!sim.received().isEmpty());
    QCOMPARE(sim.received().constFirst().status, 0);
    // The simulator keeps serving.
    QCOMPARE(post(sim.chatUrl(), chatBody(QStringLiteral("fine"))).status, 200);

    // `times` applies to resets as well (raw sockets: no client-side resend hides anything).
    const QByteArray once =
        rawRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("@sim(reset=1,times=1) x")));
    RawClient first(sim.port());
    QVERIFY(first.waitConnected());
    QSignalSpy firstClosed(&first.socket(), &QTcpSocket::disconnected);
    first.send(once);
    QTRY_VERIFY(firstClosed.count() == 1);
    QVERIFY(first.data().isEmpty());
    RawClient second(sim.port());
    QVERIFY(second.waitConnected());
    second.send(once);
    QTRY_COMPARE(second.responses().size(), 1);
    QCOMPARE(second.responses().at(0).status, 200);
}

void tst_Simulator::scriptedDelay()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    QElapsedTimer timer;
    timer.start();
    const HttpResult r = post(sim.chatUrl(), chatBody(QStringLiteral("@sim(delay_ms=150,times=1) slow")));
    QCOMPARE(r.status, 200);
    QVERIFY2(timer.elapsed() >= 150, QByteArray::number(timer.elapsed()).constData());
}

void tst_Simulator::errorRate()
{
    SimulatorConfig config;
    config.errorRate = 1.0;
    Test::ScriptedRandom random({0.999});
    Simulator sim(config, &random);
    QVERIFY(sim.listen().ok());
    for (int i = 0; i < 3; ++i) {
        const HttpResult r = post(sim.chatUrl(), chatBody(QStringLiteral("e%1").arg(i)));
        QCOMPARE(r.status, 500);
        const json body = r.parsed();
        QCOMPARE(textAt(body, "/error/message"), std::string("Simulated server error"));
        QCOMPARE(textAt(body, "/error/type"), std::string("server_error"));
    }
    const HttpResult anthropic = post(sim.messagesUrl(), messagesBody(QStringLiteral("x")));
    QCOMPARE(anthropic.status, 500);
    QCOMPARE(textAt(anthropic.parsed(), "/type"), std::string("error"));
    QCOMPARE(sim.stats().serverErrors, 4);
    QCOMPARE(sim.stats().ok, 0);
    // Health checks are never failed.
    QCOMPARE(get(withPath(sim.chatUrl(), QStringLiteral("/health"))).status, 200);
}

void tst_Simulator::errorRatePartial()
{
    SimulatorConfig config;
    config.errorRate = 0.5;
    Test::ScriptedRandom random({0.9, 0.1, 0.6, 0.2}); // one draw per request: ok, 500, ok, 500
    Simulator sim(config, &random);
    QVERIFY(sim.listen().ok());
    const QList<int> expected = {200, 500, 200, 500};
    for (int i = 0; i < expected.size(); ++i)
        QCOMPARE(post(sim.chatUrl(), chatBody(QStringLiteral("p%1").arg(i))).status, expected.at(i));
}

void tst_Simulator::resetRate()
{
    SimulatorConfig config;
    config.resetRate = 1.0;
    Test::ScriptedRandom random({0.5});
    Simulator sim(config, &random);
    QVERIFY(sim.listen().ok());
    const HttpResult r = post(sim.chatUrl(), chatBody(QStringLiteral("x")));
    QCOMPARE(r.status, 0);
    QCOMPARE(r.error, QNetworkReply::RemoteHostClosedError);
    QVERIFY(sim.stats().resets >= 1);
    QCOMPARE(sim.stats().ok, 0);
    QCOMPARE(sim.stats().serverErrors, 0);

    // Raw view: the connection is closed and nothing was written.
    RawClient client(sim.port());
    QVERIFY(client.waitConnected());
    QSignalSpy disconnected(&client.socket(), &QTcpSocket::disconnected);
    client.send(rawRequest("POST", "/v1/messages", messagesBody(QStringLiteral("y"))));
    QTRY_VERIFY(disconnected.count() == 1);
    QVERIFY(client.data().isEmpty());
}

void tst_Simulator::latency()
{
    SimulatorConfig config;
    config.latencyMs = 200;
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    QElapsedTimer timer;
    timer.start();
    const HttpResult r = post(sim.chatUrl(), chatBody(QStringLiteral("slow")));
    const qint64 elapsed = timer.elapsed();
    QCOMPARE(r.status, 200);
    QVERIFY2(elapsed >= 200, QByteArray::number(elapsed).constData());
    // Errors before the model stage (404) are answered at once; no upper bound asserted on that either.
}

void tst_Simulator::jitterUsesRandomSource()
{
    SimulatorConfig config;
    config.latencyMs = 50;
    config.jitterMs = 300;
    Test::ScriptedRandom random({0.5}); // 50 + 0.5 * 300 = 200 ms
    Simulator sim(config, &random);
    QVERIFY(sim.listen().ok());
    QElapsedTimer timer;
    timer.start();
    QCOMPARE(post(sim.chatUrl(), chatBody(QStringLiteral("j"))).status, 200);
    QVERIFY2(timer.elapsed() >= 200, QByteArray::number(timer.elapsed()).constData());
}

void tst_Simulator::concurrentConnections()
{
    SimulatorConfig config;
    config.latencyMs = 300;
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    QElapsedTimer timer;
    timer.start();
    QList<QNetworkReply *> replies;
    for (int i = 0; i < 6; ++i) // QNAM opens up to 6 connections per host
        replies.append(start("POST", sim.chatUrl(), chatBody(QStringLiteral("c%1").arg(i))));
    QTRY_VERIFY_WITH_TIMEOUT(
        std::all_of(replies.begin(), replies.end(), [](QNetworkReply *r) { return r->isFinished(); }), 10000);
    const qint64 elapsed = timer.elapsed();
    for (QNetworkReply *reply : replies)
        QCOMPARE(wait(reply).status, 200);
    QVERIFY(elapsed >= 300);
    // Served one after another this would take 1.8 s; concurrently about 0.3 s.
    QVERIFY2(elapsed < 1500, QByteArray::number(elapsed).constData());
    QVERIFY(sim.stats().connections >= 2);
}

void tst_Simulator::statsCounts()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    QCOMPARE(post(sim.chatUrl(), chatBody(QStringLiteral("a"))).status, 200);
    QCOMPARE(post(sim.messagesUrl(), messagesBody(QStringLiteral("b"))).status, 200);
    QCOMPARE(post(withPath(sim.chatUrl(), QStringLiteral("/x")), chatBody(QStringLiteral("c"))).status, 404);
    QCOMPARE(post(sim.chatUrl(), chatBody(QStringLiteral("@sim(status=502)"))).status, 502);
    QCOMPARE(post(sim.chatUrl(), chatBody(QStringLiteral("@sim(status=429)"))).status, 429);
    QCOMPARE(post(sim.chatUrl(), chatBody(QStringLiteral("@sim(status=403)"))).status, 403);
    const Simulator::Stats stats = sim.stats();
    QCOMPARE(stats.requests, 6);
    QCOMPARE(stats.ok, 2);
    QCOMPARE(stats.clientErrors, 2);
    QCOMPARE(stats.serverErrors, 1);
    QCOMPARE(stats.rateLimited, 1);
    QCOMPARE(stats.resets, 0);
    QVERIFY(stats.connections >= 1);
}

void tst_Simulator::recording()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    QCOMPARE(post(sim.chatUrl(), chatBody(QStringLiteral("not recorded"))).status, 200);
    QVERIFY(sim.received().isEmpty());
    sim.setRecording(true);
    const QString longText = QString(300, QLatin1Char('z'));
    const json body = {{"messages", json::array({{{"role", "user"}, {"content", "first"}},
                                                 {{"role", "assistant"}, {"content", "answer"}},
                                                 {{"role", "user"}, {"content", str(longText)}}})}};
    QCOMPARE(post(sim.chatUrl(), toBytes(body)).status, 200);
    QCOMPARE(post(sim.messagesUrl(), messagesBody(QStringLiteral("second"))).status, 200);
    const QList<Simulator::Received> received = sim.received();
    QCOMPARE(received.size(), 2);
    QCOMPARE(received.at(0).path, QStringLiteral("/v1/chat/completions"));
    QCOMPARE(received.at(0).text, longText.left(256));
    QCOMPARE(received.at(0).status, 200);
    QCOMPARE(received.at(0).authorization, QStringLiteral("absent"));
    QCOMPARE(received.at(1).path, QStringLiteral("/v1/messages"));
    QCOMPARE(received.at(1).text, QStringLiteral("second"));
    QVERIFY(received.at(0).atMs > 0);
    QVERIFY(received.at(1).atMs >= received.at(0).atMs);
}

void tst_Simulator::clientDisconnectsBeforeDelayedReply()
{
    SimulatorConfig config;
    config.latencyMs = 100;
    Simulator sim(config);
    sim.setRecording(true);
    QVERIFY(sim.listen().ok());
    {
        RawClient client(sim.port());
        QVERIFY(client.waitConnected());
        client.send(rawRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("gone"))));
        QTRY_COMPARE(sim.stats().requests, 1);
        client.socket().abort();
    }
    // A later request with the same latency is due after the abandoned one: once it is answered, the
    // abandoned reply's timer has fired too.
    const HttpResult r = post(sim.chatUrl(), chatBody(QStringLiteral("here")));
    QCOMPARE(r.status, 200);
    QCOMPARE(sim.stats().requests, 2);
    QCOMPARE(sim.stats().ok, 1);
    QCOMPARE(sim.received().size(), 2);
    QCOMPARE(sim.stats().connections, 2);
}

void tst_Simulator::closeWithPendingReply()
{
    SimulatorConfig config;
    config.latencyMs = 5000;
    auto sim = std::make_unique<Simulator>(config);
    QVERIFY(sim->listen().ok());
    const quint16 port = sim->port();
    QNetworkReply *reply = start("POST", sim->chatUrl(), chatBody(QStringLiteral("never")));
    QTRY_COMPARE(sim->stats().requests, 1);
    sim->close();
    QCOMPARE(sim->port(), quint16(0));
    const HttpResult r = wait(reply);
    QCOMPARE(r.status, 0);
    QVERIFY(r.error != QNetworkReply::NoError);
    QCOMPARE(sim->stats().ok, 0);

    // Listening again works; destroying with a reply pending is safe.
    QVERIFY(sim->listen(port).ok() || sim->listen().ok());
    QNetworkReply *second = start("POST", sim->chatUrl(), chatBody(QStringLiteral("never either")));
    QTRY_COMPARE(sim->stats().requests, 2);
    sim.reset();
    QCOMPARE(wait(second).status, 0);
}

void tst_Simulator::scriptedTruncate()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    RawClient client(sim.port());
    QVERIFY(client.waitConnected());
    QSignalSpy disconnected(&client.socket(), &QTcpSocket::disconnected);
    client.send(
        rawRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("@sim(truncate=1,times=1)"))));
    QTRY_VERIFY(disconnected.count() == 1); // closed by the server after the partial reply
    const PartialResponse r = partialResponse(client.data());
    QCOMPARE(r.status, 200);
    QVERIFY(r.contentLength > 100);
    QCOMPARE(qint64(r.body.size()), r.contentLength / 2); // half of what was announced
    QVERIFY(client.responses().isEmpty());
    QCOMPARE(sim.stats().broken, 1);
    QCOMPARE(sim.stats().ok, 0);
    QCOMPARE(sim.stats().resets, 0);

    // Through QNAM: an error, with the partial body; after `times`, whole again.
    const QByteArray body = chatBody(QStringLiteral("@sim(truncate=1,times=1) qnam"));
    const HttpResult cut = post(sim.chatUrl(), body);
    QCOMPARE(cut.status, 200);
    QVERIFY(cut.error != QNetworkReply::NoError);
    QVERIFY(cut.body.size() < cut.header("content-length").toLongLong());
    const HttpResult whole = post(sim.chatUrl(), body);
    QCOMPARE(whole.error, QNetworkReply::NoError);
    QVERIFY(!whole.parsed().is_discarded());
    QCOMPARE(sim.stats().ok, 1);

    // It applies to scripted errors as well.
    RawClient second(sim.port());
    QVERIFY(second.waitConnected());
    second.send(
        rawRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("@sim(status=503,truncate=1)"))));
    QTRY_VERIFY(second.socket().state() == QAbstractSocket::UnconnectedState);
    QCOMPARE(partialResponse(second.data()).status, 503);
    QCOMPARE(sim.stats().broken, 3);
    QCOMPARE(sim.stats().serverErrors, 0);
}

void tst_Simulator::scriptedResetMidBody()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    RawClient client(sim.port());
    QVERIFY(client.waitConnected());
    QSignalSpy errors(&client.socket(), &QTcpSocket::errorOccurred);
    client.send(
        rawRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("@sim(reset_mid_body=1)"))));
    QTRY_VERIFY(client.socket().state() == QAbstractSocket::UnconnectedState);
    const PartialResponse r = partialResponse(client.data());
    QCOMPARE(r.status, 200);
    QCOMPARE(qint64(r.body.size()), r.contentLength / 2);
    QVERIFY(!errors.isEmpty()); // a reset, not a clean close
    QCOMPARE(sim.stats().broken, 1);
    QCOMPARE(sim.stats().resets, 1);
    QCOMPARE(sim.stats().ok, 0);
    // The simulator keeps serving.
    QCOMPARE(post(sim.chatUrl(), chatBody(QStringLiteral("fine"))).status, 200);
}

void tst_Simulator::scriptedGarbageBody()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    const HttpResult r = post(sim.chatUrl(), chatBody(QStringLiteral("@sim(body=garbage)")));
    QCOMPARE(r.status, 200);
    QCOMPARE(r.error, QNetworkReply::NoError);
    QCOMPARE(r.header("content-length").toLongLong(), r.body.size()); // whole, just not JSON
    QVERIFY(r.parsed().is_discarded());
    QVERIFY(r.body.startsWith("<html>"));
    const HttpResult error = post(sim.chatUrl(), chatBody(QStringLiteral("@sim(status=502,body=garbage)")));
    QCOMPARE(error.status, 502);
    QVERIFY(error.parsed().is_discarded());
    QCOMPARE(sim.stats().broken, 2);
    QCOMPARE(sim.stats().ok, 0);
    QCOMPARE(sim.stats().serverErrors, 0);
}

void tst_Simulator::scriptedDrip()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    // The headers at once, then a byte every 30 ms.
    RawClient slow(sim.port());
    QVERIFY(slow.waitConnected());
    slow.send(rawRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("@sim(drip_ms=30)"))));
    QTRY_VERIFY(partialResponse(slow.data()).status == 200);
    const PartialResponse head = partialResponse(slow.data());
    QVERIFY(head.body.size() <= 1);
    QTRY_VERIFY(partialResponse(slow.data()).body.size() >= 3);
    const PartialResponse later = partialResponse(slow.data());
    QVERIFY(later.body.size() < later.contentLength);
    QCOMPARE(sim.stats().ok, 0); // counted once the last byte is out
    slow.socket().abort();

    // A fast drip completes: a whole, valid reply, sent over about a millisecond per byte.
    QElapsedTimer timer;
    timer.start();
    const HttpResult r = post(sim.chatUrl(), chatBody(QStringLiteral("@sim(drip_ms=1) d")));
    QCOMPARE(r.status, 200);
    QCOMPARE(r.error, QNetworkReply::NoError);
    QVERIFY(!r.parsed().is_discarded());
    QVERIFY2(timer.elapsed() >= r.body.size() / 2, QByteArray::number(timer.elapsed()).constData());
    QCOMPARE(sim.stats().ok, 1);

    // Keep-alive: a request pipelined behind a dripping reply waits for its last byte.
    RawClient pipelined(sim.port());
    QVERIFY(pipelined.waitConnected());
    pipelined.send(rawRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("@sim(drip_ms=1) p"))) +
                   rawRequest("GET", "/health", {}));
    QTRY_COMPARE(pipelined.responses().size(), 2);
    QCOMPARE(pipelined.responses().at(0).status, 200);
    QVERIFY(!pipelined.responses().at(0).parsed().is_discarded());
    QCOMPARE(pipelined.responses().at(1).status, 200);
}

void tst_Simulator::scriptedHang()
{
    Simulator sim;
    sim.setRecording(true);
    QVERIFY(sim.listen().ok());
    RawClient hung(sim.port());
    QVERIFY(hung.waitConnected());
    hung.send(rawRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("@sim(hang=1,times=1)"))) +
              rawRequest("GET", "/health", {})); // nothing after a hang is answered either
    QTRY_COMPARE(sim.stats().hangs, 1);
    // Another connection is served meanwhile (and `times` is used up); the hung one stays silent, open.
    const HttpResult other = post(sim.chatUrl(), chatBody(QStringLiteral("@sim(hang=1,times=1)")));
    QCOMPARE(other.status, 200);
    QCOMPARE(post(sim.chatUrl(), chatBody(QStringLiteral("more"))).status, 200);
    QVERIFY(hung.data().isEmpty());
    QCOMPARE(hung.socket().state(), QAbstractSocket::ConnectedState);
    QCOMPARE(sim.stats().requests, 3);
    QCOMPARE(sim.received().first().status, -1);
    // The client giving up ends it; closing the simulator is safe too.
    hung.socket().abort();
    sim.close();
}

void tst_Simulator::scriptedRedirect_data()
{
    QTest::addColumn<QString>("directive");
    QTest::addColumn<int>("status");

    QTest::newRow("default 307") << QStringLiteral("redirect=http://127.0.0.1:9/v1/chat/completions") << 307;
    QTest::newRow("301") << QStringLiteral("redirect=http://127.0.0.1:9/v1/chat/completions,status=301")
                         << 301;
    QTest::newRow("302 with a query")
        << QStringLiteral("status=302,redirect=https://elsewhere.example/x?token=a=b") << 302;
    QTest::newRow("308 relative") << QStringLiteral("redirect=/v2/chat/completions,status=308") << 308;
    QTest::newRow("a non-3xx status becomes 307")
        << QStringLiteral("redirect=http://127.0.0.1:9/v1/chat/completions,status=500") << 307;
}

void tst_Simulator::scriptedRedirect()
{
    QFETCH(QString, directive);
    QFETCH(int, status);

    Simulator sim;
    QVERIFY(sim.listen().ok());
    const HttpResult r = post(sim.chatUrl(), chatBody(QStringLiteral("@sim(%1) go").arg(directive)));
    QCOMPARE(r.status, status);
    QString location = directive.mid(directive.indexOf(QLatin1String("redirect=")) + 9);
    location.truncate(location.indexOf(QLatin1String(",status")) >= 0
                          ? location.indexOf(QLatin1String(",status"))
                          : location.size());
    QCOMPARE(QString::fromLatin1(r.header("location")), location);
    QCOMPARE(sim.stats().redirects, 1);
    QCOMPARE(sim.stats().clientErrors + sim.stats().serverErrors + sim.stats().ok, 0);
}

void tst_Simulator::tls()
{
#ifndef SLUICE_TEST_DATA_DIR
    QSKIP("built without the test certificates (tests/integration/hostile.cmake)");
#else
    const QString dir = QStringLiteral(SLUICE_TEST_DATA_DIR);
    Simulator sim;
    QVERIFY(!sim.isTls());
    QVERIFY(sim.setTls(dir + QStringLiteral("/sim-tls.crt"), dir + QStringLiteral("/sim-tls.key")).ok());
    QVERIFY(sim.isTls());
    QVERIFY(sim.listen().ok());
    QCOMPARE(sim.chatUrl().toString(),
             QStringLiteral("https://127.0.0.1:%1/v1/chat/completions").arg(sim.port()));
    QCOMPARE(sim.messagesUrl().scheme(), QStringLiteral("https"));

    // Trusting the test CA: served.
    QNetworkRequest trusted(sim.chatUrl());
    trusted.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
    tls.setCaCertificates(QSslCertificate::fromPath(dir + QStringLiteral("/sim-tls.crt")));
    trusted.setSslConfiguration(tls);
    const HttpResult ok = wait(m_nam->post(trusted, chatBody(QStringLiteral("secure"))));
    QCOMPARE(ok.status, 200);
    QVERIFY(!ok.parsed().is_discarded());
    QCOMPARE(sim.stats().ok, 1);

    // With the system's CAs: the handshake fails, and no request reaches the simulator.
    m_nam = std::make_unique<QNetworkAccessManager>(); // no cached connection
    const HttpResult refused = post(sim.chatUrl(), chatBody(QStringLiteral("refused")));
    QCOMPARE(refused.status, 0);
    QCOMPARE(refused.error, QNetworkReply::SslHandshakeFailedError);
    QTRY_COMPARE(sim.stats().tlsFailures, 1);
    QCOMPARE(sim.stats().requests, 1);
#endif
}

void tst_Simulator::tlsSetupErrors()
{
    Simulator sim;
    const auto missing =
        sim.setTls(QStringLiteral("/nonexistent/cert.pem"), QStringLiteral("/nonexistent/key.pem"));
    QVERIFY(!missing.ok());
    QVERIFY(missing.error().message.contains(QStringLiteral("/nonexistent/cert.pem")));
    QVERIFY(!sim.isTls());
#ifdef SLUICE_TEST_DATA_DIR
    const QString dir = QStringLiteral(SLUICE_TEST_DATA_DIR);
    // A certificate where the key should be.
    const auto wrongKey =
        sim.setTls(dir + QStringLiteral("/sim-tls.crt"), dir + QStringLiteral("/sim-tls.crt"));
    QVERIFY(!wrongKey.ok());
    QVERIFY(wrongKey.error().message.contains(QStringLiteral("private key")));
    QVERIFY(sim.listen().ok());
    const auto whileListening =
        sim.setTls(dir + QStringLiteral("/sim-tls.crt"), dir + QStringLiteral("/sim-tls.key"));
    QVERIFY(!whileListening.ok());
    QCOMPARE(sim.chatUrl().scheme(), QStringLiteral("http"));
#endif
}

Assembled tst_Simulator::whole(Simulator &sim, bool anthropic, json body)
{
    body.erase("stream");
    body.erase("stream_options");
    const HttpResult r = post(anthropic ? sim.messagesUrl() : sim.chatUrl(), toBytes(body));
    if (r.status != 200 || r.header("content-type") != "application/json")
        return {};
    return anthropic ? wholeAnthropic(r.parsed()) : wholeOpenAi(r.parsed());
}

void tst_Simulator::rateLimitManualClock()
{
    Test::ManualClock clock; // starts at 1000 ms and moves only when told
    SimulatorConfig config;
    config.rps = 2;
    config.burst = 1;
    Simulator sim(config, nullptr, &clock);
    sim.setRecording(true);
    QVERIFY(sim.listen().ok());
    const HttpResult first = post(sim.chatUrl(), chatBody(QStringLiteral("a")));
    QCOMPARE(first.status, 200);
    QCOMPARE(first.header("x-ratelimit-remaining-requests"), QByteArrayLiteral("0"));
    QCOMPARE(first.header("x-ratelimit-reset-requests"), QByteArrayLiteral("500ms"));
    // However long the test takes in real time, the bucket refills only as the clock moves.
    const HttpResult second = post(sim.chatUrl(), chatBody(QStringLiteral("b")));
    QCOMPARE(second.status, 429);
    QCOMPARE(second.header("retry-after-ms"), QByteArrayLiteral("500"));
    clock.advance(200);
    const HttpResult third = post(sim.chatUrl(), chatBody(QStringLiteral("c")));
    QCOMPARE(third.status, 429);
    QCOMPARE(third.header("retry-after-ms"), QByteArrayLiteral("300"));
    QCOMPARE(third.header("x-ratelimit-reset-requests"), QByteArrayLiteral("300ms"));
    clock.advance(300);
    QCOMPARE(post(sim.chatUrl(), chatBody(QStringLiteral("d"))).status, 200);
    // A new rate live: the empty bucket stays empty and refills at the new rate.
    config.rps = 10;
    sim.setConfig(config);
    const HttpResult fifth = post(sim.chatUrl(), chatBody(QStringLiteral("e")));
    QCOMPARE(fifth.status, 429);
    QCOMPARE(fifth.header("retry-after-ms"), QByteArrayLiteral("100"));
    clock.advance(100);
    QCOMPARE(post(sim.chatUrl(), chatBody(QStringLiteral("f"))).status, 200);
    QList<double> at;
    for (const Simulator::Received &r : sim.received())
        at.append(r.atMs);
    QCOMPARE(at, (QList<double>{1000, 1000, 1200, 1500, 1500, 1600}));
}

void tst_Simulator::delaysUseInjectedClock()
{
    Test::ManualClock clock;
    SimulatorConfig config;
    config.latencyMs = 50;
    Simulator sim(config, nullptr, &clock);
    QVERIFY(sim.listen().ok());
    QNetworkReply *reply = start("POST", sim.chatUrl(), chatBody(QStringLiteral("later")));
    QTRY_COMPARE(sim.stats().requests, 1);
    // Real time passes, the simulator's clock does not: its timer wakes up every 50 ms and finds the
    // reply not yet due. (Asserting that nothing happens needs a real wait.)
    QTest::qWait(300);
    QVERIFY(!reply->isFinished());
    QCOMPARE(sim.stats().ok, 0);
    clock.advance(50);
    QCOMPARE(wait(reply).status, 200);
    QCOMPARE(sim.stats().ok, 1);

    // drip_ms follows the same clock: the head goes, the body only as the clock moves.
    config.latencyMs = 0;
    sim.setConfig(config);
    RawClient client(sim.port());
    QVERIFY(client.waitConnected());
    client.send(
        rawRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("drip @sim(drip_ms=10)"))));
    QTRY_VERIFY(partialResponse(client.data()).status == 200);
    QTest::qWait(100);
    QVERIFY(partialResponse(client.data()).body.size() <= 1);
    clock.advance(1e6);
    QTRY_COMPARE(client.responses().size(), 1);
    QCOMPARE(client.responses().first().parsed().is_object(), true);
    QCOMPARE(sim.stats().ok, 2);
}

void tst_Simulator::streamOpenAiShape()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    const json body = requestBody(false, "Stream this reply, please: one two three four five", true);
    const auto client = openStream(sim.port(), false, body);
    QVERIFY(client->ended());
    QVERIFY(!client->disconnected());
    QVERIFY(!client->framingError());
    QCOMPARE(client->status(), 200);
    QCOMPARE(client->header("content-type"), QByteArrayLiteral("text/event-stream"));
    QVERIFY(client->isChunked());
    QVERIFY(!client->hasHeader("content-length"));
    const QList<SseEvent> events = client->events();
    QVERIFY(events.size() >= 4);
    QCOMPARE(events.last().data, QByteArrayLiteral("[DONE]"));
    std::string id;
    for (qsizetype i = 0; i + 1 < events.size(); ++i) {
        QVERIFY(events.at(i).name.isEmpty());
        const json chunk = events.at(i).parsed();
        QCOMPARE(textAt(chunk, "/object"), std::string("chat.completion.chunk"));
        QCOMPARE(textAt(chunk, "/model"), std::string("gpt-test"));
        QVERIFY(!hasAt(chunk, "/usage")); // not asked for
        if (i == 0)
            id = textAt(chunk, "/id");
        QCOMPARE(textAt(chunk, "/id"), id);
        QCOMPARE(intAt(chunk, "/choices/0/index"), qint64(0));
        const bool last = i + 2 == events.size();
        QCOMPARE(chunk.at(json::json_pointer("/choices/0/finish_reason")).is_null(), !last);
    }
    QVERIFY(id.starts_with("chatcmpl-sim-"));
    const json first = events.first().parsed();
    QCOMPARE(textAt(first, "/choices/0/delta/role"), std::string("assistant"));
    QVERIFY(hasAt(first, "/choices/0/delta/content"));
    QCOMPARE(textAt(first, "/choices/0/delta/content"), std::string());
    const json finish = events.at(events.size() - 2).parsed();
    QCOMPARE(textAt(finish, "/choices/0/finish_reason"), std::string("stop"));
    QVERIFY(finish.at(json::json_pointer("/choices/0/delta")).empty());

    const Assembled streamed = streamedOpenAi(events);
    QVERIFY(streamed.done);
    const Assembled reference = whole(sim, false, body);
    QVERIFY(reference.text.starts_with("Simulated reply to: Stream this"));
    QCOMPARE(streamed.text, reference.text);
    QCOMPARE(streamed.finish, reference.finish);
    // One content chunk per token by default.
    QCOMPARE(qint64(streamed.contentAtMs.size()), reference.completionTokens);

    // Keep-alive: the same connection answers the next request.
    client->nextResponse();
    client->send(rawRequest("POST", "/v1/chat/completions", toBytes(requestBody(false, "again", false))));
    QTRY_VERIFY(client->ended());
    QCOMPARE(client->status(), 200);
    QCOMPARE(textAt(json::parse(client->body().begin(), client->body().end(), nullptr, false), "/object"),
             std::string("chat.completion"));
    const Simulator::Stats stats = sim.stats();
    QCOMPARE(stats.connections, 2); // the raw client's and whole()'s
    QCOMPARE(stats.streamsStarted, 1);
    QCOMPARE(stats.streamsCompleted, 1);
    QCOMPARE(stats.streamsBroken, 0);
    QCOMPARE(stats.ok, 3);
}

void tst_Simulator::streamOpenAiUsage()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    json body = requestBody(false, "with usage please", true);
    body["stream_options"] = {{"include_usage", true}};
    const auto client = openStream(sim.port(), false, body);
    QVERIFY(client->ended());
    const QList<SseEvent> events = client->events();
    QVERIFY(events.size() >= 5);
    QCOMPARE(events.last().data, QByteArrayLiteral("[DONE]"));
    const json usage = events.at(events.size() - 2).parsed();
    QVERIFY(usage.at("choices").is_array() && usage.at("choices").empty());
    QCOMPARE(textAt(usage, "/object"), std::string("chat.completion.chunk"));
    for (qsizetype i = 0; i + 2 < events.size(); ++i) {
        const json chunk = events.at(i).parsed();
        QVERIFY(hasAt(chunk, "/usage") && chunk.at("usage").is_null());
    }
    QCOMPARE(textAt(events.at(events.size() - 3).parsed(), "/choices/0/finish_reason"), std::string("stop"));
    const Assembled streamed = streamedOpenAi(events);
    const Assembled reference = whole(sim, false, body);
    QCOMPARE(streamed, reference); // text, finish reason and usage
    QCOMPARE(intAt(usage, "/usage/total_tokens"), reference.promptTokens + reference.completionTokens);
}

void tst_Simulator::streamAnthropicShape()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    json body = requestBody(true, "Hello Claude, stream me a reply", true);
    body["system"] = "Be brief.";
    const auto client = openStream(sim.port(), true, body);
    QVERIFY(client->ended());
    QVERIFY(!client->disconnected());
    QCOMPARE(client->status(), 200);
    QCOMPARE(client->header("content-type"), QByteArrayLiteral("text/event-stream"));
    const QList<SseEvent> events = client->events();
    const Assembled reference = whole(sim, true, body);
    const qint64 chunks = reference.completionTokens;
    QList<QByteArray> expected = {"message_start", "content_block_start", "ping"};
    for (qint64 i = 0; i < chunks; ++i)
        expected.append("content_block_delta");
    expected += QList<QByteArray>{"content_block_stop", "message_delta", "message_stop"};
    QCOMPARE(namesOf(events), expected);
    for (const SseEvent &event : events)
        QCOMPARE(QByteArray::fromStdString(textAt(event.parsed(), "/type")), event.name);

    const json start = events.at(0).parsed();
    QVERIFY(textAt(start, "/message/id").starts_with("msg_sim_"));
    QCOMPARE(textAt(start, "/message/type"), std::string("message"));
    QCOMPARE(textAt(start, "/message/role"), std::string("assistant"));
    QCOMPARE(textAt(start, "/message/model"), std::string("claude-test"));
    QVERIFY(start.at(json::json_pointer("/message/content")).empty());
    QVERIFY(start.at(json::json_pointer("/message/stop_reason")).is_null());
    QCOMPARE(intAt(start, "/message/usage/input_tokens"), reference.promptTokens);
    const json blockStart = events.at(1).parsed();
    QCOMPARE(intAt(blockStart, "/index"), qint64(0));
    QCOMPARE(textAt(blockStart, "/content_block/type"), std::string("text"));
    QVERIFY(hasAt(blockStart, "/content_block/text"));
    for (qint64 i = 0; i < chunks; ++i) {
        const json delta = events.at(3 + i).parsed();
        QCOMPARE(textAt(delta, "/delta/type"), std::string("text_delta"));
        QCOMPARE(intAt(delta, "/index"), qint64(0));
    }
    const json messageDelta = events.at(events.size() - 2).parsed();
    QCOMPARE(textAt(messageDelta, "/delta/stop_reason"), std::string("end_turn"));
    QVERIFY(messageDelta.at(json::json_pointer("/delta/stop_sequence")).is_null());
    QCOMPARE(intAt(messageDelta, "/usage/output_tokens"), reference.completionTokens);
    const Assembled streamed = streamedAnthropic(events);
    QVERIFY(streamed.done);
    QCOMPARE(streamed, reference);
    QCOMPARE(sim.stats().streamsCompleted, 1);
}

void tst_Simulator::streamEqualsWhole_data()
{
    QTest::addColumn<bool>("anthropic");
    QTest::addColumn<QString>("text");
    QTest::addColumn<int>("tools");
    QTest::addColumn<int>("chunks");   ///< SimulatorConfig::chunksPerReply
    QTest::addColumn<int>("expected"); ///< content chunks; -1: one per token
    const QString sentence = QStringLiteral("hello there, how are you today? fine, thanks");
    const QString unicode = QStringLiteral("naïve café — 日本語のテキスト 🎉🎉 ok");
    for (const bool anthropic : {false, true}) {
        const char *dialect = anthropic ? "anthropic" : "openai";
        QTest::addRow("%s auto", dialect) << anthropic << sentence << 0 << 0 << -1;
        QTest::addRow("%s 3 chunks", dialect) << anthropic << sentence << 0 << 3 << 3;
        QTest::addRow("%s 40 chunks, lengthened", dialect)
            << anthropic << QStringLiteral("hi") << 0 << 40 << 40;
        QTest::addRow("%s unicode", dialect) << anthropic << unicode << 0 << 7 << 7;
        QTest::addRow("%s tool", dialect) << anthropic << sentence << 2 << 0 << -1;
        QTest::addRow("%s tool 5 chunks", dialect) << anthropic << unicode << 1 << 5 << 5;
    }
}

void tst_Simulator::streamEqualsWhole()
{
    QFETCH(bool, anthropic);
    QFETCH(QString, text);
    QFETCH(int, tools);
    QFETCH(int, chunks);
    QFETCH(int, expected);
    SimulatorConfig config;
    config.chunksPerReply = chunks;
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    json body = requestBody(anthropic, str(text), true, tools);
    if (!anthropic)
        body["stream_options"] = {{"include_usage", true}};
    const auto client = openStream(sim.port(), anthropic, body);
    QVERIFY(client->ended());
    const Assembled streamed =
        anthropic ? streamedAnthropic(client->events()) : streamedOpenAi(client->events());
    QVERIFY(streamed.done);
    const Assembled reference = whole(sim, anthropic, body);
    QVERIFY(reference.completionTokens > 0);
    QCOMPARE(streamed, reference);
    QCOMPARE(reference.toolName.empty(), tools == 0);
    QCOMPARE(qint64(streamed.contentAtMs.size()),
             expected > 0 ? qint64(expected) : reference.completionTokens);
    if (chunks >= 40) { // lengthened so that each chunk is about one token, streamed or not
        QVERIFY(reference.text.starts_with("Simulated reply to: hi sim sim"));
        QCOMPARE(reference.completionTokens, qint64(chunks));
    }
}

void tst_Simulator::toolCallsWhole()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    const std::string user = "What is the weather in Paris?";
    const json expectedInput = {{"text", user}};

    const HttpResult openAi = post(sim.chatUrl(), toBytes(requestBody(false, user, false, 2)));
    QCOMPARE(openAi.status, 200);
    const json chat = openAi.parsed();
    QVERIFY(chat.at(json::json_pointer("/choices/0/message/content")).is_null());
    QCOMPARE(chat.at(json::json_pointer("/choices/0/message/tool_calls")).size(), std::size_t(1));
    QVERIFY(textAt(chat, "/choices/0/message/tool_calls/0/id").starts_with("call_sim_"));
    QCOMPARE(textAt(chat, "/choices/0/message/tool_calls/0/type"), std::string("function"));
    QCOMPARE(textAt(chat, "/choices/0/message/tool_calls/0/function/name"), std::string("get_weather"));
    const std::string arguments = textAt(chat, "/choices/0/message/tool_calls/0/function/arguments");
    QVERIFY(json::parse(arguments, nullptr, false) == expectedInput);
    QCOMPARE(textAt(chat, "/choices/0/finish_reason"), std::string("tool_calls"));
    QCOMPARE(intAt(chat, "/usage/completion_tokens"), qint64(arguments.size() / 4));

    const HttpResult anthropic = post(sim.messagesUrl(), toBytes(requestBody(true, user, false, 2)));
    QCOMPARE(anthropic.status, 200);
    const json message = anthropic.parsed();
    QCOMPARE(message.at("content").size(), std::size_t(1));
    QCOMPARE(textAt(message, "/content/0/type"), std::string("tool_use"));
    QVERIFY(textAt(message, "/content/0/id").starts_with("toolu_sim_"));
    QCOMPARE(textAt(message, "/content/0/name"), std::string("get_weather"));
    QVERIFY(message.at(json::json_pointer("/content/0/input")) == expectedInput);
    QCOMPARE(textAt(message, "/stop_reason"), std::string("tool_use"));

    // tool_choice: "none" answers in text; a named tool is the one called.
    json none = requestBody(false, user, false, 2);
    none["tool_choice"] = "none";
    QCOMPARE(textAt(post(sim.chatUrl(), toBytes(none)).parsed(), "/choices/0/finish_reason"),
             std::string("stop"));
    json anthropicNone = requestBody(true, user, false, 2);
    anthropicNone["tool_choice"] = {{"type", "none"}};
    QCOMPARE(textAt(post(sim.messagesUrl(), toBytes(anthropicNone)).parsed(), "/content/0/type"),
             std::string("text"));
    json named = requestBody(false, user, false, 2);
    named["tool_choice"] = {{"type", "function"}, {"function", {{"name", "get_time"}}}};
    QCOMPARE(
        textAt(post(sim.chatUrl(), toBytes(named)).parsed(), "/choices/0/message/tool_calls/0/function/name"),
        std::string("get_time"));
    json anthropicNamed = requestBody(true, user, false, 2);
    anthropicNamed["tool_choice"] = {{"type", "tool"}, {"name", "get_time"}};
    QCOMPARE(textAt(post(sim.messagesUrl(), toBytes(anthropicNamed)).parsed(), "/content/0/name"),
             std::string("get_time"));
    // An empty tools array is no tools.
    json empty = requestBody(false, user, false);
    empty["tools"] = json::array();
    QCOMPARE(textAt(post(sim.chatUrl(), toBytes(empty)).parsed(), "/choices/0/finish_reason"),
             std::string("stop"));
}

void tst_Simulator::toolCallsStreamed_data()
{
    QTest::addColumn<bool>("anthropic");
    QTest::newRow("openai") << false;
    QTest::newRow("anthropic") << true;
}

void tst_Simulator::toolCallsStreamed()
{
    QFETCH(bool, anthropic);
    SimulatorConfig config;
    config.chunksPerReply = 4;
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    const json body = requestBody(anthropic, "Weather in Oslo and Bergen?", true, 1);
    const auto client = openStream(sim.port(), anthropic, body);
    QVERIFY(client->ended());
    const QList<SseEvent> events = client->events();
    if (anthropic) {
        const json start = events.at(1).parsed();
        QCOMPARE(events.at(1).name, QByteArrayLiteral("content_block_start"));
        QCOMPARE(textAt(start, "/content_block/type"), std::string("tool_use"));
        QVERIFY(textAt(start, "/content_block/id").starts_with("toolu_sim_"));
        QCOMPARE(textAt(start, "/content_block/name"), std::string("get_weather"));
        QVERIFY(start.at(json::json_pointer("/content_block/input")) == json::object());
        for (qsizetype i = 3; i < 7; ++i) {
            QCOMPARE(events.at(i).name, QByteArrayLiteral("content_block_delta"));
            QCOMPARE(textAt(events.at(i).parsed(), "/delta/type"), std::string("input_json_delta"));
        }
        QCOMPARE(textAt(events.at(events.size() - 2).parsed(), "/delta/stop_reason"),
                 std::string("tool_use"));
    } else {
        const json first = events.at(0).parsed();
        QCOMPARE(textAt(first, "/choices/0/delta/role"), std::string("assistant"));
        QCOMPARE(intAt(first, "/choices/0/delta/tool_calls/0/index"), qint64(0));
        QVERIFY(textAt(first, "/choices/0/delta/tool_calls/0/id").starts_with("call_sim_"));
        QCOMPARE(textAt(first, "/choices/0/delta/tool_calls/0/type"), std::string("function"));
        QCOMPARE(textAt(first, "/choices/0/delta/tool_calls/0/function/name"), std::string("get_weather"));
        QCOMPARE(textAt(first, "/choices/0/delta/tool_calls/0/function/arguments"), std::string());
        for (qsizetype i = 1; i < 5; ++i) {
            const json chunk = events.at(i).parsed();
            QCOMPARE(intAt(chunk, "/choices/0/delta/tool_calls/0/index"), qint64(0));
            QVERIFY(!hasAt(chunk, "/choices/0/delta/tool_calls/0/id"));
            QVERIFY(!textAt(chunk, "/choices/0/delta/tool_calls/0/function/arguments").empty());
        }
        QCOMPARE(textAt(events.at(5).parsed(), "/choices/0/finish_reason"), std::string("tool_calls"));
    }
    const Assembled streamed = anthropic ? streamedAnthropic(events) : streamedOpenAi(events);
    QCOMPARE(streamed.contentAtMs.size(), 4); // the arguments JSON split across chunks
    QVERIFY(json::parse(streamed.toolArguments, nullptr, false) ==
            (json{{"text", "Weather in Oslo and Bergen?"}}));
    const Assembled reference = whole(sim, anthropic, body);
    QCOMPARE(streamed.toolName, reference.toolName);
    QCOMPARE(streamed.toolArguments, reference.toolArguments);
    QCOMPARE(streamed.finish, reference.finish);
}

void tst_Simulator::streamTiming_data()
{
    QTest::addColumn<bool>("anthropic");
    QTest::newRow("openai") << false;
    QTest::newRow("anthropic") << true;
}

void tst_Simulator::streamTiming()
{
    QFETCH(bool, anthropic);
    SimulatorConfig config;
    config.latencyMs = 100;
    config.firstTokenMs = 300;
    config.chunkIntervalMs = 100;
    config.chunksPerReply = 5;
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    const auto client = openStream(sim.port(), anthropic, requestBody(anthropic, "timing", true));
    QVERIFY(client->ended());
    const Assembled streamed =
        anthropic ? streamedAnthropic(client->events()) : streamedOpenAi(client->events());
    QCOMPARE(streamed.contentAtMs.size(), 5);
    // Measured from the moment the request was written: the server cannot send chunk k before
    // latency + first token + k intervals after it read the request (1 ms for rounding to whole ms).
    // The upper bound is loose: a loaded machine delays delivery, never the schedule's start.
    for (qsizetype k = 0; k < 5; ++k) {
        const qint64 at = streamed.contentAtMs.at(k);
        QVERIFY2(at >= 100 + 300 + 100 * k - 1,
                 qPrintable(QStringLiteral("chunk %1 at %2 ms").arg(k).arg(at)));
    }
    QVERIFY2(streamed.contentAtMs.last() < 100 + 300 + 400 + 3000,
             qPrintable(QString::number(streamed.contentAtMs.last())));
}

void tst_Simulator::streamOverQnam()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    json body = requestBody(false, "through QNetworkAccessManager", true);
    body["stream_options"] = {{"include_usage", true}};
    QList<QByteArray> bodies;
    for (int i = 0; i < 2; ++i) {
        const HttpResult r = post(sim.chatUrl(), toBytes(body));
        QCOMPARE(r.status, 200);
        QCOMPARE(r.error, QNetworkReply::NoError);
        QCOMPARE(r.header("content-type"), QByteArrayLiteral("text/event-stream"));
        QVERIFY(r.body.endsWith("data: [DONE]\n\n"));
        bodies.append(r.body);
    }
    const Assembled streamed = streamedOpenAi(eventsOf(bodies.first()));
    QVERIFY(streamed.done);
    QCOMPARE(streamed, whole(sim, false, body));
    QCOMPARE(streamedOpenAi(eventsOf(bodies.last())), streamed);
    QCOMPARE(sim.stats().connections, 1); // both streams and the whole reply on one kept-alive connection
    QCOMPARE(sim.stats().streamsCompleted, 2);
}

void tst_Simulator::streamHttp10()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    const json body = requestBody(false, "an old client", true);
    const auto client = openStream(sim.port(), false, body, QByteArrayLiteral("HTTP/1.0"));
    QVERIFY(client->disconnected()); // the close ends an unframed body
    QCOMPARE(client->status(), 200);
    QVERIFY(!client->isChunked());
    QVERIFY(!client->hasHeader("content-length"));
    QCOMPARE(client->header("connection"), QByteArrayLiteral("close"));
    QCOMPARE(client->events().last().data, QByteArrayLiteral("[DONE]"));
    QCOMPARE(streamedOpenAi(client->events()).text, whole(sim, false, body).text);
}

void tst_Simulator::streamScriptedStatusIsWhole()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    // An error status is a JSON body, as the real APIs answer before a stream starts.
    const auto failed = openStream(sim.port(), false, requestBody(false, "x @sim(status=503)", true));
    QVERIFY(failed->ended());
    QCOMPARE(failed->status(), 503);
    QCOMPARE(failed->header("content-type"), QByteArrayLiteral("application/json"));
    QCOMPARE(textAt(json::parse(failed->body().begin(), failed->body().end(), nullptr, false), "/error/type"),
             std::string("server_error"));
    // A body fault breaks a whole body, even for a streamed request.
    const auto truncated = openStream(sim.port(), true, requestBody(true, "y @sim(truncate=1)", true));
    QVERIFY(truncated->disconnected());
    QVERIFY(!truncated->ended());
    QCOMPARE(truncated->status(), 200);
    QCOMPARE(truncated->header("content-type"), QByteArrayLiteral("application/json"));
    QVERIFY(truncated->hasHeader("content-length"));
    QCOMPARE(sim.stats().streamsStarted, 0);
    QCOMPARE(sim.stats().broken, 1);
}

void tst_Simulator::streamCutAfter_data()
{
    QTest::addColumn<bool>("anthropic");
    QTest::newRow("openai") << false;
    QTest::newRow("anthropic") << true;
}

void tst_Simulator::streamCutAfter()
{
    QFETCH(bool, anthropic);
    SimulatorConfig config;
    config.chunksPerReply = 5;
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    const json body = requestBody(anthropic, "cut me @sim(cut_after=2)", true);
    const auto client = openStream(sim.port(), anthropic, body);
    QVERIFY(client->disconnected());
    QVERIFY(!client->ended()); // no end of the chunked body
    QVERIFY(!client->framingError());
    QCOMPARE(client->status(), 200);
    const Assembled streamed =
        anthropic ? streamedAnthropic(client->events()) : streamedOpenAi(client->events());
    QCOMPARE(streamed.contentAtMs.size(), 2);
    QVERIFY(!streamed.done);
    QVERIFY(streamed.finish.empty());
    QVERIFY(streamed.completionTokens < 0); // no usage either
    if (anthropic) {
        const QList<QByteArray> names = namesOf(client->events());
        QVERIFY(!names.contains("content_block_stop"));
        QVERIFY(!names.contains("message_delta"));
    }
    // Through QNetworkAccessManager: Qt 6.4.2 reports even a chunked body cut before its last chunk as
    // NoError, so only the missing closing events tell a cut stream from a whole one.
    const HttpResult viaQnam = post(anthropic ? sim.messagesUrl() : sim.chatUrl(), toBytes(body));
    QCOMPARE(viaQnam.status, 200);
    const QList<SseEvent> qnamEvents = eventsOf(viaQnam.body);
    const Assembled viaQnamStreamed = anthropic ? streamedAnthropic(qnamEvents) : streamedOpenAi(qnamEvents);
    QCOMPARE(viaQnamStreamed.contentAtMs.size(), 2);
    QVERIFY(!viaQnamStreamed.done);
    const Simulator::Stats stats = sim.stats();
    QCOMPARE(stats.streamsStarted, 2);
    QCOMPARE(stats.streamsBroken, 2);
    QCOMPARE(stats.streamsCompleted, 0);
    QCOMPARE(stats.broken, 2);
    QCOMPARE(stats.ok, 0);
}

void tst_Simulator::streamErrorAfter_data()
{
    QTest::addColumn<bool>("anthropic");
    QTest::newRow("openai") << false;
    QTest::newRow("anthropic") << true;
}

void tst_Simulator::streamErrorAfter()
{
    QFETCH(bool, anthropic);
    SimulatorConfig config;
    config.chunksPerReply = 4;
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    const auto client =
        openStream(sim.port(), anthropic, requestBody(anthropic, "fail @sim(error_after=1)", true));
    QVERIFY(client->ended()); // the body ends properly after the error event
    QVERIFY(!client->disconnected());
    const QList<SseEvent> events = client->events();
    const Assembled streamed = anthropic ? streamedAnthropic(events) : streamedOpenAi(events);
    QCOMPARE(streamed.contentAtMs.size(), 1);
    QVERIFY(!streamed.done);
    QVERIFY(streamed.finish.empty());
    const json error = events.last().parsed();
    if (anthropic) {
        QCOMPARE(events.last().name, QByteArrayLiteral("error"));
        QCOMPARE(textAt(error, "/type"), std::string("error"));
        QCOMPARE(textAt(error, "/error/type"), std::string("overloaded_error"));
        QVERIFY(!textAt(error, "/error/message").empty());
    } else {
        QVERIFY(events.last().name.isEmpty());
        QCOMPARE(textAt(error, "/error/type"), std::string("server_error"));
        QVERIFY(!textAt(error, "/error/message").empty());
        QVERIFY(!hasAt(error, "/choices"));
    }
    // Keep-alive still works after a failed stream.
    client->nextResponse();
    client->send(rawRequest("POST", apiPath(anthropic), toBytes(requestBody(anthropic, "next", false))));
    QTRY_VERIFY(client->ended());
    QCOMPARE(client->status(), 200);
    const Simulator::Stats stats = sim.stats();
    QCOMPARE(stats.streamsBroken, 1);
    QCOMPARE(stats.streamsCompleted, 0);
    QCOMPARE(stats.broken, 1);
    QCOMPARE(stats.ok, 1);
    QCOMPARE(stats.connections, 1);
}

void tst_Simulator::streamStall()
{
    SimulatorConfig config;
    config.chunksPerReply = 4;
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    const json body = requestBody(false, "pause @sim(stall_after=2,stall_ms=400)", true);
    const auto client = openStream(sim.port(), false, body);
    QVERIFY(client->ended());
    const Assembled streamed = streamedOpenAi(client->events());
    QVERIFY(streamed.done);
    QCOMPARE(streamed.contentAtMs.size(), 4);
    // No first-token delay or interval configured: only the stall holds chunks 3 and 4 back.
    QVERIFY2(streamed.contentAtMs.at(2) >= 399, qPrintable(QString::number(streamed.contentAtMs.at(2))));
    QVERIFY(streamed.contentAtMs.at(3) >= 399);
    QCOMPARE(streamed.text, whole(sim, false, body).text);
    QCOMPARE(sim.stats().streamsCompleted, 1);
    QCOMPARE(sim.stats().streamsBroken, 0);
}

void tst_Simulator::streamFaultTimes()
{
    Simulator sim;
    QVERIFY(sim.listen().ok());
    const json body = requestBody(true, "once @sim(cut_after=1,times=1)", true);
    const auto first = openStream(sim.port(), true, body);
    QVERIFY(first->disconnected());
    QVERIFY(!streamedAnthropic(first->events()).done);
    const auto second = openStream(sim.port(), true, body);
    QVERIFY(second->ended());
    QVERIFY(streamedAnthropic(second->events()).done);
    QCOMPARE(sim.stats().streamsBroken, 1);
    QCOMPARE(sim.stats().streamsCompleted, 1);
}

void tst_Simulator::streamConfigLive()
{
    SimulatorConfig config;
    config.chunksPerReply = 3;
    config.chunkIntervalMs = 200;
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    SseClient client(sim.port());
    QVERIFY(client.waitConnected());
    client.send(rawRequest("POST", "/v1/chat/completions", toBytes(requestBody(false, "live", true))));
    QTRY_VERIFY(!streamedOpenAi(client.events()).contentAtMs.isEmpty());
    // A stream under way keeps its plan; the next one follows the new configuration.
    config.chunksPerReply = 6;
    config.chunkIntervalMs = 0;
    sim.setConfig(config);
    QTRY_VERIFY_WITH_TIMEOUT(client.ended(), 5000);
    const Assembled first = streamedOpenAi(client.events());
    QCOMPARE(first.contentAtMs.size(), 3);
    QVERIFY2(first.contentAtMs.at(2) >= 399, qPrintable(QString::number(first.contentAtMs.at(2))));
    const auto next = openStream(sim.port(), false, requestBody(false, "live", true));
    QVERIFY(next->ended());
    QCOMPARE(streamedOpenAi(next->events()).contentAtMs.size(), 6);
}

QTEST_GUILESS_MAIN(tst_Simulator)
#include "tst_simulator.moc"
