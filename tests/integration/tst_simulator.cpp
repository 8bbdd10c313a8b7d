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

private:
    HttpResult post(const QUrl &url, const QByteArray &body,
                    const QList<QPair<QByteArray, QByteArray>> &headers = {});
    HttpResult get(const QUrl &url);
    QNetworkReply *start(const QByteArray &verb, const QUrl &url, const QByteArray &body,
                         const QList<QPair<QByteArray, QByteArray>> &headers = {});
    static HttpResult collect(QNetworkReply *reply);
    HttpResult wait(QNetworkReply *reply);

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

QTEST_GUILESS_MAIN(tst_Simulator)
#include "tst_simulator.moc"
