#include "io/jsonlparser.h"
#include "net/provideradapter.h"

#include <QTest>
#include <QTimeZone>

#include <cstdlib>
#include <ctime>
#include <functional>
#include <random>
#include <string>

using namespace Sluice;
using json = nlohmann::json;

Q_DECLARE_METATYPE(Sluice::InputFormat)
Q_DECLARE_METATYPE(Sluice::Provider)

namespace {

/// Distinguishable from the 1024 default, so a test sees which value was used.
constexpr int EndpointMaxTokens = 777;

/// Compact text of a JSON value (keys sorted), for QCOMPARE.
QString dumped(const json &value)
{
    return QString::fromStdString(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

Request makeRequest(InputFormat format, const QByteArray &line)
{
    Request r;
    r.customId = QStringLiteral("r-1");
    r.line = 1;
    r.format = format;
    r.input = json::parse(line.toStdString());
    return r;
}

EndpointConfig makeEndpoint(Provider provider, const QString &model = QString())
{
    EndpointConfig e;
    e.name = QStringLiteral("ep");
    e.url =
        QUrl(provider == Provider::Anthropic ? QStringLiteral("https://api.example.com/v1/messages")
                                             : QStringLiteral("https://api.example.com/v1/chat/completions"));
    e.provider = provider;
    e.model = model;
    e.defaultMaxTokens = EndpointMaxTokens;
    return e;
}

QDateTime utc(int h, int m, int s)
{
    return QDateTime(QDate(2024, 3, 5), QTime(h, m, s), QTimeZone::utc());
}

/// Sets the process time zone for the scope (Qt reads TZ through tzset on each local-time conversion).
class TimeZoneOverride
{
public:
    explicit TimeZoneOverride(const QByteArray &tz)
        : m_had(qEnvironmentVariableIsSet("TZ"))
        , m_old(qgetenv("TZ"))
    {
        qputenv("TZ", tz);
        tzset();
    }
    ~TimeZoneOverride()
    {
        if (m_had) {
            qputenv("TZ", m_old);
        } else {
            qunsetenv("TZ");
        }
        tzset();
    }

private:
    bool m_had;
    QByteArray m_old;
};

} // namespace

class tst_ProviderAdapter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void buildBody_data();
    void buildBody();
    void requestBody_data();
    void requestBody();
    void requestBodyAsWritten();
    void bareAnthropicBodyToAnthropicKeepsItsKeys();
    void buildBodyLeavesRequestUntouched();
    void serializeReplacesInvalidUtf8();
    void makeRequestHeaders_data();
    void makeRequestHeaders();
    void usage_data();
    void usage();
    void scanReplyAgreesWithUsage_data();
    void scanReplyAgreesWithUsage();
    void scanReplyAgreesOnGeneratedReplies();
    void retryAfterMs_data();
    void retryAfterMs();
    void httpDateIsGmtWhateverTheLocalZone_data();
    void httpDateIsGmtWhateverTheLocalZone();
};

void tst_ProviderAdapter::buildBody_data()
{
    QTest::addColumn<InputFormat>("format");
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<Provider>("provider");     // of the endpoint
    QTest::addColumn<QString>("endpointModel"); // EndpointConfig::model
    QTest::addColumn<QString>("modelOverride"); // --model
    QTest::addColumn<QByteArray>("expected");

    const QString none;
    const QString ep = QStringLiteral("ep-model");
    const QString ovr = QStringLiteral("override-model");
    const auto openai = Provider::OpenAI;
    const auto anthropic = Provider::Anthropic;

    // --- bodies as they are, to an OpenAI-compatible endpoint
    QTest::newRow("openai batch sends body")
        << InputFormat::OpenAIBatch
        << QByteArray(
               R"({"custom_id":"r1","method":"POST","url":"/v1/chat/completions",)"
               R"("body":{"model":"gpt","messages":[{"role":"user","content":"hi"}],"temperature":0.5,)"
               R"("n":2}})")
        << openai << ep << none
        << QByteArray(
               R"({"model":"gpt","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"n":2})");
    QTest::newRow("chat body drops metadata and custom_id")
        << InputFormat::ChatBody
        << QByteArray(R"({"custom_id":"c1","model":"gpt","messages":[{"role":"user","content":"hi"}],)"
                      R"("metadata":{"k":1},"temperature":0.2,"max_tokens":9})")
        << openai << none << none
        << QByteArray(R"({"model":"gpt","messages":[{"role":"user","content":"hi"}],"temperature":0.2,)"
                      R"("max_tokens":9})");
    QTest::newRow("prompt becomes one user message, keeps other keys")
        << InputFormat::Prompt
        << QByteArray(R"({"custom_id":"p1","input":"Write a haiku.","max_tokens":50,"temperature":0,)"
                      R"("metadata":{"a":1}})")
        << openai << none << none
        << QByteArray(R"({"messages":[{"role":"user","content":"Write a haiku."}],"max_tokens":50,)"
                      R"("temperature":0})");

    // --- model fill-in: the request's own model, then --model, then the endpoint's, else none
    const QByteArray chatNoModel = R"({"messages":[{"role":"user","content":"hi"}]})";
    QTest::newRow("own model wins over override and endpoint")
        << InputFormat::ChatBody
        << QByteArray(R"({"model":"own","messages":[{"role":"user","content":"hi"}]})") << openai << ep << ovr
        << QByteArray(R"({"model":"own","messages":[{"role":"user","content":"hi"}]})");
    QTest::newRow("override wins over endpoint model")
        << InputFormat::ChatBody << chatNoModel << openai << ep << ovr
        << QByteArray(R"({"model":"override-model","messages":[{"role":"user","content":"hi"}]})");
    QTest::newRow("endpoint model when no override")
        << InputFormat::ChatBody << chatNoModel << openai << ep << none
        << QByteArray(R"({"model":"ep-model","messages":[{"role":"user","content":"hi"}]})");
    QTest::newRow("no model anywhere: no model key")
        << InputFormat::ChatBody << chatNoModel << openai << none << none << chatNoModel;
    QTest::newRow("null model is filled in")
        << InputFormat::ChatBody
        << QByteArray(R"({"model":null,"messages":[{"role":"user","content":"hi"}]})") << openai << ep << ovr
        << QByteArray(R"({"model":"override-model","messages":[{"role":"user","content":"hi"}]})");
    QTest::newRow("prompt gets the endpoint model")
        << InputFormat::Prompt << QByteArray(R"({"input":"x"})") << openai << ep << none
        << QByteArray(R"({"model":"ep-model","messages":[{"role":"user","content":"x"}]})");
    QTest::newRow("prompt keeps its own model")
        << InputFormat::Prompt << QByteArray(R"({"input":"x","model":"own"})") << openai << ep << ovr
        << QByteArray(R"({"model":"own","messages":[{"role":"user","content":"x"}]})");
    QTest::newRow("openai batch body gets the override")
        << InputFormat::OpenAIBatch
        << QByteArray(R"({"custom_id":"r","body":{"messages":[{"role":"user","content":"hi"}]}})") << openai
        << ep << ovr
        << QByteArray(R"({"model":"override-model","messages":[{"role":"user","content":"hi"}]})");

    // --- chat-shaped bodies to an Anthropic endpoint
    QTest::newRow("chat to anthropic: system lifted, unsupported keys dropped")
        << InputFormat::ChatBody
        << QByteArray(R"({"model":"claude","messages":[{"role":"system","content":"Be brief."},)"
                      R"({"role":"developer","content":[{"type":"text","text":"Use English."},)"
                      R"({"type":"text","text":"No lists."}]},)"
                      R"({"role":"user","content":"hi"},{"role":"assistant","content":"hello"},)"
                      R"({"role":"user","content":"more"}],)"
                      R"("temperature":0.3,"top_p":0.9,"n":2,"presence_penalty":0.1,"frequency_penalty":0.2,)"
                      R"("logprobs":true,"stream":false,"stop":"END","metadata":{"k":1}})")
        << anthropic << ep << none
        << QByteArray(R"({"model":"claude","system":"Be brief.\n\nUse English.\nNo lists.",)"
                      R"("messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},)"
                      R"({"role":"user","content":"more"}],"max_tokens":777,"temperature":0.3,"top_p":0.9,)"
                      R"("stop_sequences":["END"]})");
    QTest::newRow("chat to anthropic: max_tokens kept")
        << InputFormat::ChatBody
        << QByteArray(R"({"model":"c","messages":[{"role":"user","content":"hi"}],"max_tokens":99})")
        << anthropic << none << none
        << QByteArray(R"({"model":"c","messages":[{"role":"user","content":"hi"}],"max_tokens":99})");
    QTest::newRow("chat to anthropic: max_completion_tokens used")
        << InputFormat::ChatBody
        << QByteArray(
               R"({"model":"c","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":55})")
        << anthropic << none << none
        << QByteArray(R"({"model":"c","messages":[{"role":"user","content":"hi"}],"max_tokens":55})");
    QTest::newRow("chat to anthropic: max_tokens wins over max_completion_tokens")
        << InputFormat::ChatBody
        << QByteArray(R"({"model":"c","messages":[{"role":"user","content":"hi"}],"max_tokens":10,)"
                      R"("max_completion_tokens":55})")
        << anthropic << none << none
        << QByteArray(R"({"model":"c","messages":[{"role":"user","content":"hi"}],"max_tokens":10})");
    QTest::newRow("chat to anthropic: stop array, top_k kept, model filled")
        << InputFormat::ChatBody
        << QByteArray(R"({"messages":[{"role":"user","content":"hi"}],"stop":["a","b"],"top_k":4})")
        << anthropic << ep << ovr
        << QByteArray(R"({"model":"override-model","messages":[{"role":"user","content":"hi"}],)"
                      R"("max_tokens":777,"stop_sequences":["a","b"],"top_k":4})");
    QTest::newRow("chat to anthropic: no model anywhere")
        << InputFormat::ChatBody << chatNoModel << anthropic << none << none
        << QByteArray(R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":777})");
    QTest::newRow("chat to anthropic: null content, tool role")
        << InputFormat::ChatBody
        << QByteArray(R"({"model":"c","messages":[{"role":"user","content":"hi"},)"
                      R"({"role":"assistant","content":null},{"role":"tool","content":"42"}]})")
        << anthropic << none << none
        << QByteArray(
               R"({"model":"c","messages":[{"role":"user","content":"hi"},)"
               R"({"role":"assistant","content":""},{"role":"user","content":"42"}],"max_tokens":777})");
    QTest::newRow("prompt to anthropic")
        << InputFormat::Prompt << QByteArray(R"({"input":"hello","max_tokens":20,"custom_id":"p"})")
        << anthropic << ep << none
        << QByteArray(
               R"({"model":"ep-model","messages":[{"role":"user","content":"hello"}],"max_tokens":20})");
    QTest::newRow("openai batch to anthropic")
        << InputFormat::OpenAIBatch
        << QByteArray(
               R"({"custom_id":"r","method":"POST","url":"/v1/chat/completions","body":)"
               R"({"model":"c","messages":[{"role":"system","content":"S"},{"role":"user","content":"u"}]}})")
        << anthropic << none << none
        << QByteArray(
               R"({"model":"c","system":"S","messages":[{"role":"user","content":"u"}],"max_tokens":777})");

    // --- Anthropic batch params to an OpenAI-compatible endpoint
    QTest::newRow("anthropic batch to openai")
        << InputFormat::AnthropicBatch
        << QByteArray(
               R"({"custom_id":"a1","params":{"model":"claude","system":"Be brief.","max_tokens":64,)"
               R"("temperature":0.1,"top_p":0.8,"top_k":5,"stop_sequences":["X"],"metadata":{"user_id":"u"},)"
               R"("messages":[{"role":"user","content":[{"type":"text","text":"part one"},)"
               R"({"type":"image","source":{}},{"type":"text","text":"part two"}]},)"
               R"({"role":"assistant","content":"ok"}]}})")
        << openai << ep << none
        << QByteArray(
               R"({"model":"claude","messages":[{"role":"system","content":"Be brief."},)"
               R"({"role":"user","content":"part one\npart two"},{"role":"assistant","content":"ok"}],)"
               R"("max_tokens":64,"temperature":0.1,"top_p":0.8,"stop":["X"]})");
    QTest::newRow("anthropic batch to openai: system blocks, no model")
        << InputFormat::AnthropicBatch
        << QByteArray(R"({"custom_id":"a2","params":{"max_tokens":8,"system":[{"type":"text","text":"A"},)"
                      R"({"type":"text","text":"B"}],"messages":[{"role":"user","content":"q"}]}})")
        << openai << none << none
        << QByteArray(R"({"messages":[{"role":"system","content":"A\nB"},{"role":"user","content":"q"}],)"
                      R"("max_tokens":8})");
    QTest::newRow("anthropic batch to openai: no system, model filled")
        << InputFormat::AnthropicBatch
        << QByteArray(R"({"custom_id":"a3","params":{"messages":[{"role":"user","content":"q"}]}})") << openai
        << ep << none << QByteArray(R"({"model":"ep-model","messages":[{"role":"user","content":"q"}]})");

    // --- Anthropic batch params to an Anthropic endpoint: unchanged but for the defaults
    const QByteArray params =
        R"({"model":"claude","system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],)"
        R"("max_tokens":64,"top_k":5,"stop_sequences":["X"],"metadata":{"user_id":"u"},)"
        R"("tools":[{"name":"t","input_schema":{"type":"object"}}],)"
        R"("messages":[{"role":"user","content":[{"type":"text","text":"q"}]}]})";
    QTest::newRow("anthropic batch to anthropic: unchanged")
        << InputFormat::AnthropicBatch << QByteArray("{\"custom_id\":\"a4\",\"params\":" + params + "}")
        << anthropic << ep << ovr << params;
    QTest::newRow("anthropic batch to anthropic: model and max_tokens filled")
        << InputFormat::AnthropicBatch
        << QByteArray(
               R"({"custom_id":"a5","params":{"system":"S","messages":[{"role":"user","content":"q"}]}})")
        << anthropic << ep << ovr
        << QByteArray(R"({"model":"override-model","system":"S","messages":[{"role":"user","content":"q"}],)"
                      R"("max_tokens":777})");
}

void tst_ProviderAdapter::buildBody()
{
    QFETCH(InputFormat, format);
    QFETCH(QByteArray, input);
    QFETCH(Provider, provider);
    QFETCH(QString, endpointModel);
    QFETCH(QString, modelOverride);
    QFETCH(QByteArray, expected);

    const Request request = makeRequest(format, input);
    const json body =
        ProviderAdapter::buildBody(request, makeEndpoint(provider, endpointModel), modelOverride);
    QCOMPARE(dumped(body), dumped(json::parse(expected.toStdString())));
}

void tst_ProviderAdapter::requestBody_data()
{
    buildBody_data();
}

void tst_ProviderAdapter::requestBody()
{
    // The bytes sent are the body buildBody() makes, whether the line's own text of it could be sent
    // as is or the body had to be built (and which of the two is what each row should take).
    QFETCH(InputFormat, format);
    QFETCH(QByteArray, input);
    QFETCH(Provider, provider);
    QFETCH(QString, endpointModel);
    QFETCH(QString, modelOverride);
    QFETCH(QByteArray, expected);

    auto parsed = JsonlParser::parse(input, 1, QStringLiteral("t.jsonl"));
    QVERIFY(std::holds_alternative<Request>(parsed));
    Request request = std::get<Request>(std::move(parsed));
    if (request.format != format) {
        QSKIP("the parser reads this line as another format");
    }
    const EndpointConfig endpoint = makeEndpoint(provider, endpointModel);
    const QByteArray sent = ProviderAdapter::requestBody(request, endpoint, modelOverride);
    QCOMPARE(dumped(json::parse(sent.toStdString())), dumped(json::parse(expected.toStdString())));

    // The line's own text goes only when building would change nothing in it.
    if (!request.bodyText.isEmpty() && sent == request.bodyText) {
        QCOMPARE(dumped(json::parse(request.bodyText.toStdString())),
                 dumped(ProviderAdapter::buildBody(request, endpoint, modelOverride)));
    }
}

void tst_ProviderAdapter::requestBodyAsWritten()
{
    const auto request = [](const QByteArray &line) {
        return std::get<Request>(JsonlParser::parse(line, 1, QStringLiteral("t.jsonl")));
    };
    const EndpointConfig openAi = makeEndpoint(Provider::OpenAI, QStringLiteral("endpoint-model"));
    const EndpointConfig anthropic = makeEndpoint(Provider::Anthropic);

    // OpenAI Batch naming its model: the bytes of the line, spacing and key order included.
    const QByteArray body =
        R"({"model":"m",  "messages":[{"role":"user","content":"hi"}], "temperature":0.50})";
    const Request batch = request(R"({"custom_id":"a","url":"/v1/chat/completions","body":)" + body + "}");
    QCOMPARE(ProviderAdapter::requestBody(batch, openAi, QString()), body);
    // The same to an Anthropic endpoint is translated.
    QVERIFY(ProviderAdapter::requestBody(batch, anthropic, QString()) != body);

    // No model in the body: the endpoint's is filled in, so the body is built.
    const Request noModel = request(
        R"({"custom_id":"a","url":"/v1/chat/completions","body":{"messages":[{"role":"user","content":"hi"}]}})");
    const QByteArray built = ProviderAdapter::requestBody(noModel, openAi, QString());
    QCOMPARE(QString::fromStdString(json::parse(built.toStdString()).at("model").get<std::string>()),
             QStringLiteral("endpoint-model"));

    // A bare chat body goes whole; with metadata it is built (metadata dropped).
    const QByteArray bare = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
    QCOMPARE(ProviderAdapter::requestBody(request(bare), openAi, QString()), bare);
    const QByteArray withMetadata = ProviderAdapter::requestBody(
        request(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"metadata":{"k":1}})"), openAi,
        QString());
    QVERIFY(!json::parse(withMetadata.toStdString()).contains("metadata"));

    // Anthropic batch lines go as written only with max_tokens (else the endpoint's default is added).
    const QByteArray params = R"({"model":"c","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})";
    QCOMPARE(ProviderAdapter::requestBody(request(R"({"custom_id":"a","params":)" + params + "}"), anthropic,
                                          QString()),
             params);
    const QByteArray defaulted = ProviderAdapter::requestBody(
        request(R"({"custom_id":"a","params":{"model":"c","messages":[{"role":"user","content":"hi"}]}})"),
        anthropic, QString());
    QCOMPARE(json::parse(defaulted.toStdString()).at("max_tokens").get<int>(), EndpointMaxTokens);
}

void tst_ProviderAdapter::bareAnthropicBodyToAnthropicKeepsItsKeys()
{
    // A bare Anthropic Messages body (no custom_id/params wrapper) is read as InputFormat::ChatBody,
    // since it has "messages". Sent to an Anthropic endpoint it must keep its top-level "system" prompt.
    const QByteArray line = R"({"model":"claude","system":"Answer in French.","max_tokens":10,)"
                            R"("messages":[{"role":"user","content":"hi"}]})";
    const json body = ProviderAdapter::buildBody(makeRequest(InputFormat::ChatBody, line),
                                                 makeEndpoint(Provider::Anthropic), QString());
    QCOMPARE(body.value("model", std::string()), std::string("claude"));
    QCOMPARE(body.value("max_tokens", 0), 10);
    QCOMPARE(body.value("system", std::string()), std::string("Answer in French."));
    QCOMPARE(body.at("messages").size(), std::size_t(1));
}

void tst_ProviderAdapter::buildBodyLeavesRequestUntouched()
{
    // Requests are stored once and rebuilt per attempt and endpoint: buildBody must not change them.
    const Request request = makeRequest(
        InputFormat::ChatBody,
        R"({"custom_id":"c","messages":[{"role":"system","content":"S"},{"role":"user","content":"u"}],)"
        R"("metadata":{"k":1},"stop":"E"})");
    const QString before = dumped(request.input);
    const json toAnthropic = ProviderAdapter::buildBody(
        request, makeEndpoint(Provider::Anthropic, QStringLiteral("m")), QString());
    const json toOpenAI =
        ProviderAdapter::buildBody(request, makeEndpoint(Provider::OpenAI, QStringLiteral("m")), QString());
    QCOMPARE(dumped(request.input), before);
    QCOMPARE(toAnthropic.value("system", std::string()), std::string("S"));
    QCOMPARE(toOpenAI.at("messages").size(), std::size_t(2));
}

void tst_ProviderAdapter::serializeReplacesInvalidUtf8()
{
    json body = {{"messages", json::array({{{"role", "user"},
                                            {"content", std::string("a\xff"
                                                                    "b\xc3")}}})},
                 {"model", "caf\xc3\xa9"}};
    QByteArray bytes;
    try {
        bytes = ProviderAdapter::serialize(body);
    } catch (const std::exception &e) {
        QFAIL(e.what());
    }
    QCOMPARE(bytes, QByteArray("{\"messages\":[{\"content\":\"a\xef\xbf\xbd"
                               "b\xef\xbf\xbd\",\"role\":\"user\"}],\"model\":\"caf\xc3\xa9\"}"));
    // What was sent is valid JSON again.
    QVERIFY(json::accept(bytes.toStdString()));

    // Valid input is written compactly and unchanged (non-ASCII not escaped).
    const json plain = json::parse(R"({"a":[1,2.5,"\u00e9"],"b":null})");
    QCOMPARE(ProviderAdapter::serialize(plain), QByteArray("{\"a\":[1,2.5,\"\xc3\xa9\"],\"b\":null}"));
}

void tst_ProviderAdapter::makeRequestHeaders_data()
{
    QTest::addColumn<Provider>("provider");
    QTest::addColumn<QByteArray>("key");
    QTest::addColumn<QByteArray>("authorization"); // empty = header must be absent
    QTest::addColumn<QByteArray>("xApiKey");
    QTest::addColumn<QByteArray>("anthropicVersion");

    QTest::newRow("openai") << Provider::OpenAI << QByteArray("k") << QByteArray("Bearer k") << QByteArray()
                            << QByteArray();
    QTest::newRow("openai, long key") << Provider::OpenAI << QByteArray("sk-proj-ABC_123")
                                      << QByteArray("Bearer sk-proj-ABC_123") << QByteArray() << QByteArray();
    QTest::newRow("openai, no key") << Provider::OpenAI << QByteArray() << QByteArray() << QByteArray()
                                    << QByteArray();
    QTest::newRow("anthropic") << Provider::Anthropic << QByteArray("k") << QByteArray() << QByteArray("k")
                               << QByteArray("2023-06-01");
    QTest::newRow("anthropic, no key")
        << Provider::Anthropic << QByteArray() << QByteArray() << QByteArray() << QByteArray("2023-06-01");
}

void tst_ProviderAdapter::makeRequestHeaders()
{
    QFETCH(Provider, provider);
    QFETCH(QByteArray, key);
    QFETCH(QByteArray, authorization);
    QFETCH(QByteArray, xApiKey);
    QFETCH(QByteArray, anthropicVersion);

    const EndpointConfig endpoint = makeEndpoint(provider);
    const QNetworkRequest request = ProviderAdapter::makeRequest(endpoint, key);

    QCOMPARE(request.url(), endpoint.url);
    QCOMPARE(request.rawHeader("Content-Type"), QByteArray("application/json"));
    QCOMPARE(request.header(QNetworkRequest::ContentTypeHeader).toByteArray(),
             QByteArray("application/json"));
    QVERIFY(request.rawHeader("User-Agent").startsWith("sluice/"));
    QVERIFY(request.attribute(QNetworkRequest::RedirectPolicyAttribute).isValid());
    QCOMPARE(request.attribute(QNetworkRequest::RedirectPolicyAttribute).toInt(),
             int(QNetworkRequest::ManualRedirectPolicy));

    QCOMPARE(request.hasRawHeader("Authorization"), !authorization.isEmpty());
    QCOMPARE(request.rawHeader("Authorization"), authorization);
    QCOMPARE(request.hasRawHeader("x-api-key"), !xApiKey.isEmpty());
    QCOMPARE(request.rawHeader("x-api-key"), xApiKey);
    QCOMPARE(request.hasRawHeader("anthropic-version"), !anthropicVersion.isEmpty());
    QCOMPARE(request.rawHeader("anthropic-version"), anthropicVersion);
}

void tst_ProviderAdapter::usage_data()
{
    QTest::addColumn<QByteArray>("reply");
    QTest::addColumn<Provider>("provider");
    QTest::addColumn<qint64>("input");
    QTest::addColumn<qint64>("output");

    QTest::newRow("openai")
        << QByteArray(R"({"id":"x","usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}})")
        << Provider::OpenAI << qint64(12) << qint64(34);
    QTest::newRow("anthropic") << QByteArray(R"({"usage":{"input_tokens":5,"output_tokens":7}})")
                               << Provider::Anthropic << qint64(5) << qint64(7);
    QTest::newRow("input_tokens shape from an openai endpoint")
        << QByteArray(R"({"usage":{"input_tokens":3,"output_tokens":4}})") << Provider::OpenAI << qint64(3)
        << qint64(4);
    QTest::newRow("openai shape from an anthropic endpoint")
        << QByteArray(R"({"usage":{"prompt_tokens":3,"completion_tokens":4}})") << Provider::Anthropic
        << qint64(0) << qint64(0);
    QTest::newRow("only output") << QByteArray(R"({"usage":{"completion_tokens":9}})") << Provider::OpenAI
                                 << qint64(0) << qint64(9);
    QTest::newRow("fraction truncated")
        << QByteArray(R"({"usage":{"prompt_tokens":12.9,"completion_tokens":1}})") << Provider::OpenAI
        << qint64(12) << qint64(1);
    QTest::newRow("large but sane") << QByteArray(
                                           R"({"usage":{"input_tokens":5000000000,"output_tokens":1}})")
                                    << Provider::Anthropic << qint64(5000000000) << qint64(1);
    QTest::newRow("missing usage") << QByteArray(R"({"id":"x"})") << Provider::OpenAI << qint64(0)
                                   << qint64(0);
    QTest::newRow("usage null") << QByteArray(R"({"usage":null})") << Provider::Anthropic << qint64(0)
                                << qint64(0);
    QTest::newRow("usage an array") << QByteArray(R"({"usage":[1,2]})") << Provider::OpenAI << qint64(0)
                                    << qint64(0);
    QTest::newRow("usage a string") << QByteArray(R"({"usage":"lots"})") << Provider::OpenAI << qint64(0)
                                    << qint64(0);
    QTest::newRow("counts as strings")
        << QByteArray(R"({"usage":{"prompt_tokens":"12","completion_tokens":"34"}})") << Provider::OpenAI
        << qint64(0) << qint64(0);
    QTest::newRow("negative counts") << QByteArray(R"({"usage":{"input_tokens":-5,"output_tokens":-1}})")
                                     << Provider::Anthropic << qint64(0) << qint64(0);
    QTest::newRow("reply an array") << QByteArray(R"([{"usage":{"prompt_tokens":1}}])") << Provider::OpenAI
                                    << qint64(0) << qint64(0);
    QTest::newRow("reply null") << QByteArray("null") << Provider::Anthropic << qint64(0) << qint64(0);
    QTest::newRow("count beyond qint64")
        << QByteArray(R"({"usage":{"input_tokens":1e300,"output_tokens":18446744073709551615}})")
        << Provider::Anthropic << qint64(0) << qint64(0);
}

void tst_ProviderAdapter::usage()
{
    QFETCH(QByteArray, reply);
    QFETCH(Provider, provider);
    QFETCH(qint64, input);
    QFETCH(qint64, output);

    const Usage u = ProviderAdapter::usage(json::parse(reply.toStdString()), provider);
    QCOMPARE(u.inputTokens, input);
    QCOMPARE(u.outputTokens, output);
}

void tst_ProviderAdapter::scanReplyAgreesWithUsage_data()
{
    QTest::addColumn<QByteArray>("reply");
    QTest::newRow("openai") << QByteArray(R"({"id":"x","usage":{"prompt_tokens":12,"completion_tokens":7}})");
    QTest::newRow("anthropic") << QByteArray(R"({"usage":{"input_tokens":3,"output_tokens":4}})");
    QTest::newRow("both kinds of names")
        << QByteArray(R"({"usage":{"prompt_tokens":1,"input_tokens":2,"output_tokens":5}})");
    QTest::newRow("input_tokens not a number")
        << QByteArray(R"({"usage":{"prompt_tokens":1,"completion_tokens":2,"input_tokens":null}})");
    QTest::newRow("no usage") << QByteArray(R"({"choices":[]})");
    QTest::newRow("usage is an array") << QByteArray(R"({"usage":[1,2]})");
    QTest::newRow("usage is a string") << QByteArray(R"({"usage":"many"})");
    QTest::newRow("usage is null") << QByteArray(R"({"usage":null})");
    QTest::newRow("counts of every type")
        << QByteArray(R"({"usage":{"prompt_tokens":"5","completion_tokens":{"n":1},"x":[1],"y":true}})");
    QTest::newRow("fractions, negatives, huge")
        << QByteArray(R"({"usage":{"prompt_tokens":3.7,"completion_tokens":-4,"input_tokens":1e20}})");
    QTest::newRow("usage twice, the object last") << QByteArray(R"({"usage":5,"usage":{"prompt_tokens":9}})");
    QTest::newRow("usage twice, a scalar last") << QByteArray(R"({"usage":{"prompt_tokens":9},"usage":5})");
    QTest::newRow("usage twice, both objects")
        << QByteArray(R"({"usage":{"prompt_tokens":9,"input_tokens":1},"usage":{"completion_tokens":2}})");
    QTest::newRow("a count twice, an array last")
        << QByteArray(R"({"usage":{"prompt_tokens":9,"prompt_tokens":[1]}})");
    QTest::newRow("a count twice, a number last")
        << QByteArray(R"({"usage":{"prompt_tokens":[1],"prompt_tokens":8}})");
    QTest::newRow("usage nested elsewhere is not the usage")
        << QByteArray(R"({"choices":[{"usage":{"prompt_tokens":4}}],"meta":{"usage":{"prompt_tokens":5}}})");
    QTest::newRow("details inside usage") << QByteArray(
        R"({"usage":{"prompt_tokens_details":{"prompt_tokens":99},"prompt_tokens":2,"completion_tokens":3}})");
    QTest::newRow("pretty-printed with a byte order mark")
        << QByteArray("\xEF\xBB\xBF{\n  \"usage\": {\n    \"prompt_tokens\": 6\n  }\n}\n");
    QTest::newRow("empty object") << QByteArray("{}");
    QTest::newRow("top-level array") << QByteArray(R"([{"usage":{"prompt_tokens":1}}])");
    QTest::newRow("top-level string") << QByteArray(R"("usage")");
    QTest::newRow("trailing garbage") << QByteArray(R"({"usage":{"prompt_tokens":1}} x)");
    QTest::newRow("cut short") << QByteArray(R"({"usage":{"prompt_tokens":1})");
    QTest::newRow("invalid UTF-8") << QByteArray("{\"a\":\"\xff\"}");
    QTest::newRow("empty") << QByteArray();
}

namespace {

/// scanReply() and usage() on the parsed document give the same answer, for both providers.
void compareScanWithDocument(const QByteArray &reply)
{
    const json document = json::parse(reply.constData(), reply.constData() + reply.size(), nullptr, false);
    for (const Provider provider : {Provider::OpenAI, Provider::Anthropic}) {
        const std::optional<Usage> scanned = ProviderAdapter::scanReply(reply, provider);
        const bool isObject = !document.is_discarded() && document.is_object();
        QCOMPARE(scanned.has_value(), isObject);
        if (isObject) {
            const Usage expected = ProviderAdapter::usage(document, provider);
            QCOMPARE(scanned->inputTokens, expected.inputTokens);
            QCOMPARE(scanned->outputTokens, expected.outputTokens);
        }
    }
}

} // namespace

void tst_ProviderAdapter::scanReplyAgreesWithUsage()
{
    QFETCH(QByteArray, reply);
    compareScanWithDocument(reply);
}

void tst_ProviderAdapter::scanReplyAgreesOnGeneratedReplies()
{
    // Random replies built from the names and shapes that matter (fixed seed: the same every run).
    std::mt19937 random(20261203);
    const std::vector<std::string> keys = {
        "usage", "prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "choices", "id"};
    std::function<json(int)> value = [&](int depth) -> json {
        switch (random() % (depth > 3 ? 5 : 7)) {
        case 0:
            return json(int(random() % 2000) - 100);
        case 1:
            return json(double(random() % 100000) / 7.0);
        case 2:
            return json("t");
        case 3:
            return json(nullptr);
        case 4:
            return json(random() % 2 == 0);
        case 5: {
            json a = json::array();
            for (int i = int(random() % 3); i > 0; --i)
                a.push_back(value(depth + 1));
            return a;
        }
        default: {
            json o = json::object();
            for (int i = int(random() % 4); i > 0; --i)
                o[keys[random() % keys.size()]] = value(depth + 1);
            return o;
        }
        }
    };
    for (int i = 0; i < 3000; ++i) {
        json reply = json::object();
        for (int k = int(random() % 4); k > 0; --k)
            reply[keys[random() % keys.size()]] = value(1);
        std::string text = reply.dump();
        // Repeated keys cannot be built as a document: splice a second "usage" member into the text.
        if (random() % 3 == 0 && text.size() > 2)
            text.insert(1, R"("usage":)" + value(1).dump() + (text.size() > 2 ? "," : ""));
        compareScanWithDocument(QByteArray::fromStdString(text));
        if (QTest::currentTestFailed()) {
            qWarning("reply: %s", text.c_str());
            return;
        }
    }
}

void tst_ProviderAdapter::retryAfterMs_data()
{
    QTest::addColumn<QByteArray>("retryAfterMsHeader");
    QTest::addColumn<QByteArray>("retryAfterHeader");
    QTest::addColumn<QDateTime>("now");
    QTest::addColumn<double>("expected");

    const QDateTime now = utc(10, 0, 0); // Tue, 05 Mar 2024 10:00:00 GMT
    QTest::newRow("ms 1500") << QByteArray("1500") << QByteArray() << now << 1500.0;
    QTest::newRow("ms fractional") << QByteArray("250.5") << QByteArray() << now << 250.5;
    QTest::newRow("ms with spaces") << QByteArray(" 40 ") << QByteArray() << now << 40.0;
    QTest::newRow("ms 0") << QByteArray("0") << QByteArray() << now << 0.0;
    QTest::newRow("seconds 2") << QByteArray() << QByteArray("2") << now << 2000.0;
    QTest::newRow("seconds 0") << QByteArray() << QByteArray("0") << now << 0.0;
    QTest::newRow("seconds with spaces") << QByteArray() << QByteArray(" 7 ") << now << 7000.0;
    QTest::newRow("seconds 120") << QByteArray() << QByteArray("120") << now << 120000.0;
    QTest::newRow("http-date 3 s ahead")
        << QByteArray() << QByteArray("Tue, 05 Mar 2024 10:00:03 GMT") << now << 3000.0;
    QTest::newRow("http-date 2 min ahead")
        << QByteArray() << QByteArray("Tue, 05 Mar 2024 10:02:00 GMT") << now << 120000.0;
    QTest::newRow("http-date next day")
        << QByteArray() << QByteArray("Wed, 06 Mar 2024 10:00:00 GMT") << now << 86400000.0;
    QTest::newRow("rfc 2822 date with offset")
        << QByteArray() << QByteArray("Tue, 05 Mar 2024 10:00:03 +0000") << now << 3000.0;
    QTest::newRow("http-date, now in another zone")
        << QByteArray() << QByteArray("Tue, 05 Mar 2024 10:00:03 GMT")
        << QDateTime(QDate(2024, 3, 5), QTime(12, 0, 0), QTimeZone(7200)) << 3000.0;
    QTest::newRow("http-date in the past")
        << QByteArray() << QByteArray("Tue, 05 Mar 2024 09:59:00 GMT") << now << 0.0;
    QTest::newRow("http-date equal to now")
        << QByteArray() << QByteArray("Tue, 05 Mar 2024 10:00:00 GMT") << now << 0.0;
    QTest::newRow("garbage") << QByteArray() << QByteArray("soon") << now << -1.0;
    QTest::newRow("garbage ms, nothing else") << QByteArray("fast") << QByteArray() << now << -1.0;
    QTest::newRow("both empty") << QByteArray() << QByteArray() << now << -1.0;
    QTest::newRow("blank") << QByteArray(" ") << QByteArray("  ") << now << -1.0;
    QTest::newRow("ms wins over seconds") << QByteArray("1500") << QByteArray("2") << now << 1500.0;
    QTest::newRow("ms wins over date")
        << QByteArray("10") << QByteArray("Tue, 05 Mar 2024 10:00:03 GMT") << now << 10.0;
    QTest::newRow("negative ms ignored, seconds used")
        << QByteArray("-5") << QByteArray("2") << now << 2000.0;
    QTest::newRow("negative ms ignored, nothing else") << QByteArray("-5") << QByteArray() << now << -1.0;
    QTest::newRow("garbage ms ignored, seconds used")
        << QByteArray("abc") << QByteArray("3") << now << 3000.0;
    QTest::newRow("negative seconds ignored") << QByteArray() << QByteArray("-1") << now << -1.0;
    QTest::newRow("nan ms ignored") << QByteArray("nan") << QByteArray("1") << now << 1000.0;
    QTest::newRow("inf ms ignored") << QByteArray("inf") << QByteArray() << now << -1.0;
    QTest::newRow("inf seconds ignored") << QByteArray() << QByteArray("inf") << now << -1.0;
}

void tst_ProviderAdapter::retryAfterMs()
{
    QFETCH(QByteArray, retryAfterMsHeader);
    QFETCH(QByteArray, retryAfterHeader);
    QFETCH(QDateTime, now);
    QFETCH(double, expected);

    QCOMPARE(ProviderAdapter::retryAfterMs(retryAfterMsHeader, retryAfterHeader, now), expected);
}

void tst_ProviderAdapter::httpDateIsGmtWhateverTheLocalZone_data()
{
    QTest::addColumn<QByteArray>("tz");
    QTest::addColumn<QByteArray>("header");
    QTest::addColumn<QDateTime>("now");
    QTest::addColumn<double>("expected");

    const QDateTime now = utc(10, 0, 0);
    QTest::newRow("New York") << QByteArray("America/New_York") << QByteArray("Tue, 05 Mar 2024 10:00:03 GMT")
                              << now << 3000.0;
    QTest::newRow("Tokyo") << QByteArray("Asia/Tokyo") << QByteArray("Tue, 05 Mar 2024 10:00:03 GMT") << now
                           << 3000.0;
    // 02:30 does not exist as local time in New York that night (DST gap); as GMT it does.
    QTest::newRow("date in a local DST gap")
        << QByteArray("America/New_York") << QByteArray("Sun, 10 Mar 2024 02:30:05 GMT")
        << QDateTime(QDate(2024, 3, 10), QTime(2, 30, 0), QTimeZone::utc()) << 5000.0;
}

void tst_ProviderAdapter::httpDateIsGmtWhateverTheLocalZone()
{
    QFETCH(QByteArray, tz);
    QFETCH(QByteArray, header);
    QFETCH(QDateTime, now);
    QFETCH(double, expected);

    const TimeZoneOverride zone(tz);
    // Make sure the zone took effect, else this test would prove nothing.
    const QDateTime probe(QDate(2024, 1, 15), QTime(12, 0));
    if (probe.offsetFromUtc() == 0) {
        QSKIP("cannot switch the local time zone here (no tzdata?)");
    }
    QCOMPARE(ProviderAdapter::retryAfterMs(QByteArray(), header, now), expected);
}

QTEST_GUILESS_MAIN(tst_ProviderAdapter)
#include "tst_provideradapter.moc"
