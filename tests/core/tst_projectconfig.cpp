#include "config/projectconfig.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

#include <set>
#include <string>

using namespace Sluice;
using json = nlohmann::json;

Q_DECLARE_METATYPE(Sluice::Provider)

namespace {

const QString FileName = QStringLiteral("p.json");

/// A minimal valid endpoint, for projects that test something else.
const QByteArray OneEndpoint = R"({"name":"a","url":"http://h/v1/chat/completions"})";

/// The project from the README: every endpoint key and every limits key set.
const QByteArray FullProject = R"({
  "endpoints": [
    {"name": "primary", "url": "http://127.0.0.1:8001/v1/chat/completions", "provider": "openai",
     "weight": 3, "model": "gpt-4o-mini", "api_key_env": "OPENAI_API_KEY", "rpm": 12000, "tpm": 2000000, "max_in_flight": 48,
     "timeout_s": 60},
    {"name": "secondary", "url": "https://api.example.com/v1/messages", "provider": "anthropic",
     "weight": 0.5, "model": "claude-3-5-haiku-latest", "api_key_env": "ANTHROPIC_API_KEY", "rpm": 6000.5,
     "max_in_flight": 32, "timeout_s": 12.5, "anthropic_version": "2024-10-22", "default_max_tokens": 4096}
  ],
  "limits": {"rps": 250, "tpm": 5000000, "max_attempts": 7, "backoff_base_ms": 200, "backoff_max_ms": 5000}
})";

Result<ProjectConfig> parse(const QByteArray &text)
{
    return ProjectConfig::fromJson(json::parse(text.toStdString()), FileName);
}

bool writeFile(const QString &path, const QByteArray &bytes)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly) && file.write(bytes) == bytes.size();
}

QByteArray readFile(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

/// A project with every field away from its default, and both providers.
ProjectConfig customProject()
{
    ProjectConfig p;
    EndpointConfig a;
    a.name = QStringLiteral("east");
    a.url = QUrl(QStringLiteral("https://east.example.com:8443/v1/chat/completions?api-version=2024-02-01"));
    a.provider = Provider::OpenAI;
    a.weight = 2.5;
    a.model = QStringLiteral("gpt-4o");
    a.apiKeyEnv = QStringLiteral("EAST_KEY");
    a.rpm = 1234.5;
    a.tpm = 90000;
    a.maxInFlight = 17;
    a.timeoutS = 45.25;
    a.protocol = HttpProtocol::H2;
    a.forwardCallerKey = true;
    EndpointConfig b;
    b.name = QStringLiteral("west");
    b.url = QUrl(QStringLiteral("http://[::1]:9000/v1/messages"));
    b.provider = Provider::Anthropic;
    b.weight = 0; // disabled, but one endpoint still has weight
    b.model = QStringLiteral("claude-sonnet");
    b.apiKeyEnv = QStringLiteral("WEST_KEY");
    b.rpm = 60;
    b.maxInFlight = 3;
    b.timeoutS = 0.5;
    b.anthropicVersion = QStringLiteral("2024-10-22");
    b.defaultMaxTokens = 333;
    p.endpoints = {a, b};
    p.limits.rps = 12.5;
    p.limits.tpm = 150000;
    p.limits.retry.maxAttempts = 9;
    p.limits.retry.baseDelayMs = 150;
    p.limits.retry.maxDelayMs = 9000;
    return p;
}

} // namespace

class tst_ProjectConfig : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void parsesFullProject();
    void defaultsWhenOmitted();
    void infersProvider_data();
    void infersProvider();
    void fromUrl();
    void rejectsBadProject_data();
    void rejectsBadProject();
    void loadReportsSyntaxErrorPosition_data();
    void loadReportsSyntaxErrorPosition();
    void loadMissingFileNamesPath();
    void loadErrorsNameTheFile();
    void loadsShippedExample();
    void roundTripPreservesEveryField();
    void roundTripUrl_data();
    void roundTripUrl();
    void saveThenLoad();
    void saveFailureNamesPath();
    void savedJsonHoldsNoApiKey();
    void tlsKeys();
    void sharedBlock();
    void validateChecksRangesSetOutsideTheFile_data();
    void validateChecksRangesSetOutsideTheFile();
};

void tst_ProjectConfig::parsesFullProject()
{
    const auto result = parse(FullProject);
    QVERIFY2(result, qPrintable(result ? QString() : result.error().message));
    const ProjectConfig &p = *result;
    QCOMPARE(p.endpoints.size(), 2);

    const EndpointConfig &a = p.endpoints.at(0);
    QCOMPARE(a.name, QStringLiteral("primary"));
    QCOMPARE(a.url, QUrl(QStringLiteral("http://127.0.0.1:8001/v1/chat/completions")));
    QCOMPARE(toString(a.provider), toString(Provider::OpenAI));
    QCOMPARE(a.weight, 3.0);
    QCOMPARE(a.model, QStringLiteral("gpt-4o-mini"));
    QCOMPARE(a.apiKeyEnv, QStringLiteral("OPENAI_API_KEY"));
    QCOMPARE(a.rpm, 12000.0);
    QCOMPARE(a.tpm, 2000000.0);
    QCOMPARE(a.maxInFlight, 48);
    QCOMPARE(a.timeoutS, 60.0);
    QCOMPARE(a.anthropicVersion, QStringLiteral("2023-06-01"));
    QCOMPARE(a.defaultMaxTokens, 1024);

    const EndpointConfig &b = p.endpoints.at(1);
    QCOMPARE(b.name, QStringLiteral("secondary"));
    QCOMPARE(b.url, QUrl(QStringLiteral("https://api.example.com/v1/messages")));
    QCOMPARE(toString(b.provider), toString(Provider::Anthropic));
    QCOMPARE(b.weight, 0.5);
    QCOMPARE(b.model, QStringLiteral("claude-3-5-haiku-latest"));
    QCOMPARE(b.apiKeyEnv, QStringLiteral("ANTHROPIC_API_KEY"));
    QCOMPARE(b.rpm, 6000.5);
    QCOMPARE(b.maxInFlight, 32);
    QCOMPARE(b.timeoutS, 12.5);
    QCOMPARE(b.anthropicVersion, QStringLiteral("2024-10-22"));
    QCOMPARE(b.defaultMaxTokens, 4096);

    QCOMPARE(p.limits.rps, 250.0);
    QCOMPARE(p.limits.tpm, 5000000.0);
    QCOMPARE(p.limits.retry.maxAttempts, 7);
    QCOMPARE(p.limits.retry.baseDelayMs, 200.0);
    QCOMPARE(p.limits.retry.maxDelayMs, 5000.0);
}

void tst_ProjectConfig::defaultsWhenOmitted()
{
    const auto result = parse(R"({"endpoints":[{"url":"http://h:8000/v1/chat/completions"},
                                               {"url":"https://a.example/v1/messages"}]})");
    QVERIFY2(result, qPrintable(result ? QString() : result.error().message));
    QCOMPARE(result->endpoints.size(), 2);
    const RetryConfig retryDefaults;
    for (int i = 0; i < 2; ++i) {
        const EndpointConfig &e = result->endpoints.at(i);
        QCOMPARE(e.name, QStringLiteral("endpoint-%1").arg(i + 1));
        QCOMPARE(e.weight, 1.0);
        QCOMPARE(e.maxInFlight, 64);
        QCOMPARE(e.timeoutS, 120.0);
        QCOMPARE(e.rpm, 0.0);
        QVERIFY(e.model.isEmpty());
        QVERIFY(e.apiKeyEnv.isEmpty());
        QCOMPARE(e.anthropicVersion, QStringLiteral("2023-06-01"));
        QCOMPARE(e.defaultMaxTokens, 1024);
    }
    QCOMPARE(toString(result->endpoints.at(0).provider), toString(Provider::OpenAI));
    QCOMPARE(toString(result->endpoints.at(1).provider), toString(Provider::Anthropic));
    // No "limits" object: the run-wide defaults.
    QCOMPARE(result->limits.rps, 0.0);
    QCOMPARE(result->limits.retry.maxAttempts, retryDefaults.maxAttempts);
    QCOMPARE(result->limits.retry.baseDelayMs, retryDefaults.baseDelayMs);
    QCOMPARE(result->limits.retry.maxDelayMs, retryDefaults.maxDelayMs);

    // An empty "limits" object is the same as none.
    const auto emptyLimits = parse("{\"endpoints\":[" + OneEndpoint + "],\"limits\":{}}");
    QVERIFY2(emptyLimits, qPrintable(emptyLimits ? QString() : emptyLimits.error().message));
    QCOMPARE(emptyLimits->limits.retry.maxAttempts, retryDefaults.maxAttempts);
    QCOMPARE(emptyLimits->limits.retry.maxDelayMs, retryDefaults.maxDelayMs);
}

void tst_ProjectConfig::infersProvider_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("provider"); // "" = key omitted
    QTest::addColumn<Provider>("expected");

    QTest::newRow("chat completions")
        << QStringLiteral("http://h/v1/chat/completions") << QString() << Provider::OpenAI;
    QTest::newRow("anthropic messages")
        << QStringLiteral("https://api.anthropic.com/v1/messages") << QString() << Provider::Anthropic;
    QTest::newRow("messages with query")
        << QStringLiteral("http://h:1/v1/messages?beta=true") << QString() << Provider::Anthropic;
    QTest::newRow("messages elsewhere in path")
        << QStringLiteral("http://h/messages/v1/chat/completions") << QString() << Provider::OpenAI;
    QTest::newRow("legacy completions")
        << QStringLiteral("http://h/v1/completions") << QString() << Provider::OpenAI;
    QTest::newRow("explicit openai wins over path")
        << QStringLiteral("http://h/v1/messages") << QStringLiteral("openai") << Provider::OpenAI;
    QTest::newRow("explicit anthropic wins over path")
        << QStringLiteral("http://h/proxy") << QStringLiteral("anthropic") << Provider::Anthropic;
}

void tst_ProjectConfig::infersProvider()
{
    QFETCH(QString, url);
    QFETCH(QString, provider);
    QFETCH(Provider, expected);

    json endpoint = {{"name", "x"}, {"url", url.toStdString()}};
    if (!provider.isEmpty()) {
        endpoint["provider"] = provider.toStdString();
    }
    const auto result = ProjectConfig::fromJson({{"endpoints", json::array({endpoint})}}, FileName);
    QVERIFY2(result, qPrintable(result ? QString() : result.error().message));
    QCOMPARE(toString(result->endpoints.at(0).provider), toString(expected));
    if (provider.isEmpty()) {
        QCOMPARE(toString(EndpointConfig::inferProvider(QUrl(url))), toString(expected));
    }
}

void tst_ProjectConfig::fromUrl()
{
    const EndpointConfig e = EndpointConfig::fromUrl(QUrl(QStringLiteral("http://h:8002/v1/messages")), 2);
    QCOMPARE(e.name, QStringLiteral("endpoint-3"));
    QCOMPARE(e.url, QUrl(QStringLiteral("http://h:8002/v1/messages")));
    QCOMPARE(toString(e.provider), toString(Provider::Anthropic));
    QCOMPARE(e.weight, 1.0);
    QCOMPARE(e.maxInFlight, 64);
    QCOMPARE(e.timeoutS, 120.0);

    const EndpointConfig o = EndpointConfig::fromUrl(QUrl(QStringLiteral("http://h/v1/chat/completions")), 0);
    QCOMPARE(o.name, QStringLiteral("endpoint-1"));
    QCOMPARE(toString(o.provider), toString(Provider::OpenAI));
}

void tst_ProjectConfig::rejectsBadProject_data()
{
    QTest::addColumn<QByteArray>("project");
    QTest::addColumn<QString>("message"); // the error's message after "p.json: " starts with this

    const QByteArray E = OneEndpoint;
    const auto endpoint = [](const QByteArray &extra) -> QByteArray {
        return "{\"endpoints\":[{\"name\":\"a\",\"url\":\"http://h/v1/chat/completions\"," + extra + "}]}";
    };
    const auto limits = [&E](const QByteArray &inner) -> QByteArray {
        return "{\"endpoints\":[" + E + "],\"limits\":" + inner + "}";
    };

    QTest::newRow("root is an array")
        << QByteArray("[]") << QStringLiteral("the project must be a JSON object, got an array");
    QTest::newRow("root is a string")
        << QByteArray(R"("x")") << QStringLiteral("the project must be a JSON object, got the string \"x\"");
    QTest::newRow("unknown top-level key, with hint")
        << QByteArray("{\"endpoints\":[" + E + "],\"limit\":{}}")
        << QStringLiteral("limit: unknown key (did you mean \"limits\"?); known keys: endpoints, limits");
    QTest::newRow("unknown top-level key, no hint")
        << QByteArray("{\"endpoints\":[" + E + "],\"output\":\"x\"}")
        << QStringLiteral("output: unknown key; known keys: endpoints, limits");
    QTest::newRow("endpoints missing") << QByteArray("{}")
                                       << QStringLiteral("endpoints: expected an array of endpoint objects "
                                                         "(missing)");
    QTest::newRow("endpoints an object")
        << QByteArray(R"({"endpoints":{}})")
        << QStringLiteral("endpoints: expected an array of endpoint objects, got an object");
    QTest::newRow("endpoints empty") << QByteArray(R"({"endpoints":[]})")
                                     << QStringLiteral("endpoints: at least one endpoint is needed");
    QTest::newRow("endpoint not an object") << QByteArray("{\"endpoints\":[" + E + ",42]}")
                                            << QStringLiteral("endpoints[1]: expected an object, got the "
                                                              "number 42");
    QTest::newRow("unknown endpoint key, did you mean weight")
        << endpoint(R"("wieght":2)")
        << QStringLiteral("endpoints[0].wieght: unknown key (did you mean "
                          "\"weight\"?); known keys: name, url, provider, "
                          "weight, model, api_key_env, rpm, tpm, max_in_flight, "
                          "timeout_s, anthropic_version, default_max_tokens, ca_file, "
                          "tls_insecure, protocol, forward_caller_key");
    QTest::newRow("unknown endpoint key, did you mean api_key_env")
        << endpoint(R"("api_key_envv":"K")")
        << QStringLiteral("endpoints[0].api_key_envv: unknown key (did you mean \"api_key_env\"?)");
    QTest::newRow("api key itself is not a key")
        << endpoint(R"("api_key":"sk-123")") << QStringLiteral("endpoints[0].api_key: unknown key");
    QTest::newRow("url missing") << QByteArray(R"({"endpoints":[{"name":"a"}]})")
                                 << QStringLiteral("endpoints[0].url: is required");
    QTest::newRow("url not a string")
        << QByteArray(R"({"endpoints":[{"url":42}]})")
        << QStringLiteral("endpoints[0].url: expected a string, got the number 42");
    QTest::newRow("url ftp") << QByteArray(R"({"endpoints":[{"url":"ftp://h/v1/chat"}]})")
                             << QStringLiteral("endpoints[0].url: \"ftp://h/v1/chat\" is not an http:// or "
                                               "https:// URL with a host");
    QTest::newRow("url relative") << QByteArray(R"({"endpoints":[{"url":"/v1/chat/completions"}]})")
                                  << QStringLiteral("endpoints[0].url: \"/v1/chat/completions\" is not an "
                                                    "http:// or https:// URL with a host");
    QTest::newRow("url without host") << QByteArray(R"({"endpoints":[{"url":"http:///v1/messages"}]})")
                                      << QStringLiteral("endpoints[0].url: \"http:///v1/messages\" is not an "
                                                        "http:// or https:// URL with a host");
    QTest::newRow("url with a space") << QByteArray(R"({"endpoints":[{"url":"http://h/a b"}]})")
                                      << QStringLiteral("endpoints[0].url: \"http://h/a b\" is not an "
                                                        "http:// or https:// URL with a host");
    QTest::newRow("provider azure") << endpoint(R"("provider":"azure")")
                                    << QStringLiteral("endpoints[0].provider: unknown provider \"azure\"; "
                                                      "expected \"openai\" or \"anthropic\"");
    QTest::newRow("provider not a string")
        << endpoint(R"("provider":1)")
        << QStringLiteral("endpoints[0].provider: expected a string, got the "
                          "number 1");
    QTest::newRow("weight negative") << endpoint(R"("weight":-1)")
                                     << QStringLiteral("endpoints[0].weight: -1 is out of range [0, 1e+06]");
    QTest::newRow("weight a string")
        << endpoint(R"("weight":"heavy")")
        << QStringLiteral("endpoints[0].weight: expected a number, got the string \"heavy\"");
    QTest::newRow("weight a boolean")
        << endpoint(R"("weight":true)") << QStringLiteral("endpoints[0].weight: expected a number, got true");
    QTest::newRow("rpm a string") << endpoint(R"("rpm":"100")")
                                  << QStringLiteral("endpoints[0].rpm: expected a number, got the string "
                                                    "\"100\"");
    QTest::newRow("rpm negative, second endpoint")
        << QByteArray("{\"endpoints\":[" + E + R"(,{"name":"b","url":"http://g/x","rpm":-5}]})")
        << QStringLiteral("endpoints[1].rpm: -5 is out of range [0, 1e+09]");
    QTest::newRow("max_in_flight 0") << endpoint(R"("max_in_flight":0)")
                                     << QStringLiteral("endpoints[0].max_in_flight: 0 is out of range [1, "
                                                       "100000]");
    QTest::newRow("max_in_flight 2.5")
        << endpoint(R"("max_in_flight":2.5)")
        << QStringLiteral("endpoints[0].max_in_flight: expected a whole number, "
                          "got the number 2.5");
    QTest::newRow("max_in_flight null") << endpoint(R"("max_in_flight":null)")
                                        << QStringLiteral("endpoints[0].max_in_flight: expected a whole "
                                                          "number, got null");
    QTest::newRow("timeout_s 0") << endpoint(R"("timeout_s":0)")
                                 << QStringLiteral(
                                        "endpoints[0].timeout_s: 0 is out of range [0.001, 86400]");
    QTest::newRow("default_max_tokens 0")
        << endpoint(R"("default_max_tokens":0)")
        << QStringLiteral("endpoints[0].default_max_tokens: 0 is out of range [1, 10000000]");
    QTest::newRow("unknown endpoint key, did you mean ca_file")
        << endpoint(R"("cafile":"ca.pem")")
        << QStringLiteral("endpoints[0].cafile: unknown key (did you mean \"ca_file\"?)");
    QTest::newRow("tls_insecure a string")
        << endpoint(R"("tls_insecure":"yes")")
        << QStringLiteral("endpoints[0].tls_insecure: expected true or false, got the string \"yes\"");
    QTest::newRow("forward_caller_key a string")
        << endpoint(R"("forward_caller_key":"yes")")
        << QStringLiteral("endpoints[0].forward_caller_key: expected true or false, got the string \"yes\"");
    QTest::newRow("tls_insecure a number")
        << endpoint(R"("tls_insecure":1)")
        << QStringLiteral("endpoints[0].tls_insecure: expected true or false, got the number 1");
    QTest::newRow("ca_file a number")
        << endpoint(R"("ca_file":5)")
        << QStringLiteral("endpoints[0].ca_file: expected a string, got the number 5");
    QTest::newRow("ca_file empty") << endpoint(R"("ca_file":"")")
                                   << QStringLiteral(
                                          "endpoints[0].ca_file: must not be empty (leave the key out to "
                                          "use the system's CAs)");
    QTest::newRow("ca_file missing") << endpoint(R"("ca_file":"/nonexistent/sluice/ca.pem")")
                                     << QStringLiteral(
                                            "endpoints[0].ca_file: \"/nonexistent/sluice/ca.pem\" cannot "
                                            "be read");
    QTest::newRow("protocol unknown") << endpoint(R"("protocol":"http3")")
                                      << QStringLiteral("endpoints[0].protocol: unknown protocol \"http3\"; "
                                                        "expected \"auto\", \"http1\", \"h2c\" or \"h2\"");
    QTest::newRow("protocol a number")
        << endpoint(R"("protocol":2)")
        << QStringLiteral("endpoints[0].protocol: expected a string, got the number 2");
    QTest::newRow("protocol h2 over http")
        << endpoint(R"("protocol":"h2")")
        << QStringLiteral("endpoints[0].protocol: \"h2\" is HTTP/2 over TLS and needs an https:// URL; use "
                          "\"h2c\" for http://");
    QTest::newRow("protocol h2c over https")
        << QByteArray(
               R"({"endpoints":[{"name":"a","url":"https://h/v1/chat/completions","protocol":"h2c"}]})")
        << QStringLiteral("endpoints[0].protocol: \"h2c\" is HTTP/2 without TLS and needs an http:// URL; "
                          "use \"h2\" for https://");
    QTest::newRow("ca_file and tls_insecure")
        << endpoint(R"("ca_file":"/nonexistent/ca.pem","tls_insecure":true)")
        << QStringLiteral(
               "endpoints[0].tls_insecure: true turns certificate checks off, so ca_file would not be "
               "used; keep only ca_file");
    QTest::newRow("name empty") << QByteArray(R"({"endpoints":[{"name":"","url":"http://h/x"}]})")
                                << QStringLiteral("endpoints[0].name: must not be empty");
    QTest::newRow("name a number") << QByteArray(R"({"endpoints":[{"name":7,"url":"http://h/x"}]})")
                                   << QStringLiteral(
                                          "endpoints[0].name: expected a string, got the number 7");
    QTest::newRow("duplicate names")
        << QByteArray(R"({"endpoints":[{"name":"a","url":"http://h/x"},{"name":"b","url":"http://h/y"},)"
                      R"({"name":"a","url":"http://h/z"}]})")
        << QStringLiteral("endpoints[2].name: \"a\" is used by an earlier endpoint");
    QTest::newRow("all weights 0") << QByteArray(
                                          R"({"endpoints":[{"name":"a","url":"http://h/x","weight":0},)"
                                          R"({"name":"b","url":"http://h/y","weight":0}]})")
                                   << QStringLiteral(
                                          "endpoints: every weight is 0, so no request could be sent");
    QTest::newRow("limits not an object")
        << limits("[]") << QStringLiteral("limits: expected an object, got an array");
    QTest::newRow("limits a number") << limits("5")
                                     << QStringLiteral("limits: expected an object, got the "
                                                       "number 5");
    QTest::newRow("unknown limits key")
        << limits(R"({"retries":3})")
        << QStringLiteral("limits.retries: unknown key; known keys: rps, tpm, max_attempts, backoff_base_ms, "
                          "backoff_max_ms");
    QTest::newRow("unknown limits key, did you mean rps")
        << limits(R"({"rsp":3})") << QStringLiteral("limits.rsp: unknown key (did you mean \"rps\"?)");
    QTest::newRow("max_attempts 0") << limits(R"({"max_attempts":0})")
                                    << QStringLiteral("limits.max_attempts: 0 is out of range [1, 100]");
    QTest::newRow("max_attempts 1.5") << limits(R"({"max_attempts":1.5})")
                                      << QStringLiteral("limits.max_attempts: expected a whole number, got "
                                                        "the number 1.5");
    QTest::newRow("rps negative") << limits(R"({"rps":-0.5})")
                                  << QStringLiteral("limits.rps: -0.5 is out of range [0, 1e+09]");
    const auto shared = [&E](const QByteArray &inner) -> QByteArray {
        return "{\"endpoints\":[" + E + "],\"shared\":" + inner + "}";
    };
    QTest::newRow("shared not an object") << shared("true") << QStringLiteral("shared: expected an object");
    QTest::newRow("shared without redis")
        << shared(R"({"namespace":"t"})") << QStringLiteral("shared.redis: ");
    QTest::newRow("shared without namespace")
        << shared(R"({"redis":"redis://127.0.0.1"})") << QStringLiteral("shared.namespace: ");
    QTest::newRow("shared http url") << shared(R"({"redis":"http://127.0.0.1:6379","namespace":"t"})")
                                     << QStringLiteral(
                                            "shared.redis: \"http://127.0.0.1:6379\" is not a redis://");
    QTest::newRow("shared password in url")
        << shared(R"({"redis":"redis://:secret@127.0.0.1","namespace":"t"})")
        << QStringLiteral("shared.redis: \"redis://:secret@127.0.0.1\" has parts Sluice does not use");
    QTest::newRow("shared bad db") << shared(R"({"redis":"redis://127.0.0.1/x","namespace":"t"})")
                                   << QStringLiteral(
                                          "shared.redis: \"redis://127.0.0.1/x\" names no database number");
    QTest::newRow("shared bad namespace")
        << shared(R"({"redis":"redis://127.0.0.1","namespace":"a b"})")
        << QStringLiteral("shared.namespace: \"a b\" must be 1-100 characters");
    QTest::newRow("shared bad on_redis_down")
        << shared(R"({"redis":"redis://127.0.0.1","namespace":"t","on_redis_down":"fail_soft"})")
        << QStringLiteral("shared.on_redis_down: \"fail_soft\" is not one of fail_closed, fail_open");
    QTest::newRow("shared unknown key") << shared(R"({"redis":"redis://127.0.0.1","namespace":"t","ttl":5})")
                                        << QStringLiteral("shared.ttl: ");
    QTest::newRow("backoff_max_ms below backoff_base_ms")
        << limits(R"({"backoff_base_ms":1000,"backoff_max_ms":200})")
        << QStringLiteral("limits.backoff_max_ms (200) is below limits.backoff_base_ms (1000)");
    QTest::newRow("backoff_max_ms below the default base")
        << limits(R"({"backoff_max_ms":100})")
        << QStringLiteral("limits.backoff_max_ms (100) is below limits.backoff_base_ms (500)");
}

void tst_ProjectConfig::rejectsBadProject()
{
    QFETCH(QByteArray, project);
    QFETCH(QString, message);

    const auto result = parse(project);
    QVERIFY2(!result, "the project was accepted");
    QCOMPARE(result.error().code, Error::Code::InvalidConfig);
    const QString expected = FileName + QStringLiteral(": ") + message;
    QVERIFY2(result.error().message.startsWith(expected),
             qPrintable(QStringLiteral("got \"%1\"\nwant \"%2...\"").arg(result.error().message, expected)));
}

void tst_ProjectConfig::loadReportsSyntaxErrorPosition_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<int>("line");
    QTest::addColumn<int>("column"); // 1-based, of the character where the parser gave up (as nlohmann)

    QTest::newRow("trailing comma") << QByteArray("{\n"
                                                  "  \"endpoints\": [\n"
                                                  "    {\"name\": \"a\", \"url\": \"http://h/x\",}\n"
                                                  "  ]\n"
                                                  "}\n")
                                    << 3 << 39; // the '}' after the comma
    QTest::newRow("missing comma") << QByteArray("{\n"
                                                 "  \"endpoints\": []\n"
                                                 "\"limits\": {}\n"
                                                 "}\n")
                                   << 3 << 8; // the closing quote of "limits"
    QTest::newRow("error at the start of a line") << QByteArray("{\n  \"endpoints\": [1,\n}\n") << 3 << 1;
    QTest::newRow("truncated, error at end of file") << QByteArray("{\n  \"endpoints\": [") << 2 << 17;
    QTest::newRow("first character") << QByteArray("x{}") << 1 << 1;
    QTest::newRow("bare word on line 2")
        << QByteArray("{\n  \"endpoints\": nope\n}") << 2 << 17; // the 'o' of "nope"
    QTest::newRow("empty file") << QByteArray() << 1 << 1;
}

void tst_ProjectConfig::loadReportsSyntaxErrorPosition()
{
    QFETCH(QByteArray, text);
    QFETCH(int, line);
    QFETCH(int, column);

    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("broken.json"));
    QVERIFY(writeFile(path, text));

    const auto result = ProjectConfig::load(path);
    QVERIFY(!result);
    QCOMPARE(result.error().code, Error::Code::InvalidConfig);
    QCOMPARE(result.error().message,
             QStringLiteral("%1:%2:%3: invalid JSON in project file").arg(path).arg(line).arg(column));
    QCOMPARE(result.error().line, qint64(line));
}

void tst_ProjectConfig::loadMissingFileNamesPath()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("nowhere/project.json"));
    const auto result = ProjectConfig::load(path);
    QVERIFY(!result);
    QCOMPARE(result.error().code, Error::Code::Io);
    QVERIFY2(result.error().message.startsWith(path + QStringLiteral(": cannot open project file: ")),
             qPrintable(result.error().message));
}

void tst_ProjectConfig::loadErrorsNameTheFile()
{
    // Errors in a loaded file name the file (not the whole path) and the key.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("mine.json"));
    const QByteArray text = R"({"endpoints":[{"name":"a","url":"http://h/x","weight":-2}]})";
    QVERIFY(writeFile(path, text));
    const auto result = ProjectConfig::load(path);
    QVERIFY(!result);
    QCOMPARE(result.error().code, Error::Code::InvalidConfig);
    QCOMPARE(result.error().message,
             QStringLiteral("mine.json: endpoints[0].weight: -2 is out of range [0, 1e+06]"));
}

void tst_ProjectConfig::loadsShippedExample()
{
    // The example project in resources/ must stay loadable as the parser evolves.
    const auto result = ProjectConfig::load(QStringLiteral(SLUICE_EXAMPLES_DIR "/demo-project.json"));
    QVERIFY2(result, qPrintable(result ? QString() : result.error().message));
    QVERIFY(!result->endpoints.isEmpty());
}

void tst_ProjectConfig::roundTripPreservesEveryField()
{
    const ProjectConfig original = customProject();
    QVERIFY(original.validate(FileName));
    const auto result = ProjectConfig::fromJson(original.toJson(), FileName);
    QVERIFY2(result, qPrintable(result ? QString() : result.error().message));
    const ProjectConfig &back = *result;

    QCOMPARE(back.endpoints.size(), original.endpoints.size());
    for (qsizetype i = 0; i < original.endpoints.size(); ++i) {
        const EndpointConfig &o = original.endpoints.at(i);
        const EndpointConfig &b = back.endpoints.at(i);
        QCOMPARE(b.name, o.name);
        QCOMPARE(b.url, o.url);
        QCOMPARE(toString(b.provider), toString(o.provider));
        QCOMPARE(b.weight, o.weight);
        QCOMPARE(b.model, o.model);
        QCOMPARE(b.apiKeyEnv, o.apiKeyEnv);
        QCOMPARE(b.rpm, o.rpm);
        QCOMPARE(b.tpm, o.tpm);
        QCOMPARE(b.maxInFlight, o.maxInFlight);
        QCOMPARE(b.timeoutS, o.timeoutS);
        QCOMPARE(b.anthropicVersion, o.anthropicVersion);
        QCOMPARE(b.defaultMaxTokens, o.defaultMaxTokens);
        QCOMPARE(toString(b.protocol), toString(o.protocol));
        QCOMPARE(b.forwardCallerKey, o.forwardCallerKey);
    }
    QCOMPARE(back.limits.rps, original.limits.rps);
    QCOMPARE(back.limits.tpm, original.limits.tpm);
    QCOMPARE(back.limits.retry.maxAttempts, original.limits.retry.maxAttempts);
    QCOMPARE(back.limits.retry.baseDelayMs, original.limits.retry.baseDelayMs);
    QCOMPARE(back.limits.retry.maxDelayMs, original.limits.retry.maxDelayMs);

    // And the JSON is stable: a second trip writes the same text.
    QCOMPARE(QString::fromStdString(back.toJson().dump()), QString::fromStdString(original.toJson().dump()));
}

void tst_ProjectConfig::roundTripUrl_data()
{
    QTest::addColumn<QString>("url");

    QTest::newRow("plain") << QStringLiteral("http://127.0.0.1:8001/v1/chat/completions");
    QTest::newRow("query") << QStringLiteral("https://x.openai.azure.com/openai/deployments/d/chat/"
                                             "completions?api-version=2024-02-01");
    QTest::newRow("ipv6 and port") << QStringLiteral("http://[::1]:9000/v1/messages");
    QTest::newRow("percent-encoded non-ASCII") << QStringLiteral("http://h/v1/%E2%82%AC/chat/completions");
    QTest::newRow("percent-encoded slash") << QStringLiteral("http://h/v1/a%2Fb/chat/completions");
    QTest::newRow("percent-encoded space") << QStringLiteral("http://h/my%20proxy/v1/chat/completions");
}

void tst_ProjectConfig::roundTripUrl()
{
    QFETCH(QString, url);

    const json in = {{"endpoints", json::array({{{"name", "a"}, {"url", url.toStdString()}}})}};
    const auto first = ProjectConfig::fromJson(in, FileName);
    QVERIFY2(first, qPrintable(first ? QString() : first.error().message));

    const auto second = ProjectConfig::fromJson(first->toJson(), FileName);
    QVERIFY2(second, qPrintable(second ? QString() : second.error().message));
    QCOMPARE(second->endpoints.at(0).url, first->endpoints.at(0).url);
    QCOMPARE(second->endpoints.at(0).url, QUrl(url));
}

void tst_ProjectConfig::saveThenLoad()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("saved.json"));
    const ProjectConfig original = customProject();
    const auto saved = original.save(path);
    QVERIFY2(saved, qPrintable(saved ? QString() : saved.error().message));

    const QByteArray text = readFile(path);
    QVERIFY(text.endsWith("}\n"));
    QVERIFY(text.contains("\n  \"endpoints\": [")); // indented, for people and diffs

    const auto loaded = ProjectConfig::load(path);
    QVERIFY2(loaded, qPrintable(loaded ? QString() : loaded.error().message));
    QCOMPARE(loaded->endpoints.size(), 2);
    QCOMPARE(loaded->endpoints.at(0).name, QStringLiteral("east"));
    QCOMPARE(loaded->endpoints.at(0).url, original.endpoints.at(0).url);
    QCOMPARE(loaded->endpoints.at(0).weight, 2.5);
    QCOMPARE(loaded->endpoints.at(0).rpm, 1234.5);
    QCOMPARE(loaded->endpoints.at(0).timeoutS, 45.25);
    QCOMPARE(toString(loaded->endpoints.at(1).provider), toString(Provider::Anthropic));
    QCOMPARE(loaded->endpoints.at(1).weight, 0.0);
    QCOMPARE(loaded->endpoints.at(1).defaultMaxTokens, 333);
    QCOMPARE(loaded->endpoints.at(1).anthropicVersion, QStringLiteral("2024-10-22"));
    QCOMPARE(loaded->limits.rps, 12.5);
    QCOMPARE(loaded->limits.retry.maxAttempts, 9);
    QCOMPARE(loaded->limits.retry.baseDelayMs, 150.0);
    QCOMPARE(loaded->limits.retry.maxDelayMs, 9000.0);

    // Saving again over the file replaces it.
    ProjectConfig changed = original;
    changed.endpoints.removeLast();
    QVERIFY(changed.save(path));
    const auto reloaded = ProjectConfig::load(path);
    QVERIFY(reloaded);
    QCOMPARE(reloaded->endpoints.size(), 1);
}

void tst_ProjectConfig::saveFailureNamesPath()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("missing-dir/p.json"));
    const auto saved = customProject().save(path);
    QVERIFY(!saved);
    QCOMPARE(saved.error().code, Error::Code::Io);
    QVERIFY2(saved.error().message.startsWith(path + QStringLiteral(": cannot write")),
             qPrintable(saved.error().message));
    QVERIFY(!QFile::exists(path));
}

void tst_ProjectConfig::savedJsonHoldsNoApiKey()
{
    const QByteArray secret = "sk-test-0123456789abcdef";
    qputenv("SLUICE_TST_PROJECTCONFIG_KEY", secret);
    ProjectConfig p = customProject();
    p.endpoints[0].apiKeyEnv = QStringLiteral("SLUICE_TST_PROJECTCONFIG_KEY");

    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("p.json"));
    QVERIFY(p.save(path));
    const QByteArray text = readFile(path);
    qunsetenv("SLUICE_TST_PROJECTCONFIG_KEY");

    QVERIFY(!text.isEmpty());
    QVERIFY(!text.contains(secret));
    QVERIFY(text.contains("\"api_key_env\": \"SLUICE_TST_PROJECTCONFIG_KEY\""));
    // Only known keys are written: nothing that could carry a key value.
    const json root = json::parse(text.toStdString());
    const std::set<std::string> allowed = {"name",
                                           "url",
                                           "provider",
                                           "weight",
                                           "model",
                                           "api_key_env",
                                           "rpm",
                                           "tpm",
                                           "max_in_flight",
                                           "timeout_s",
                                           "anthropic_version",
                                           "default_max_tokens",
                                           "ca_file",
                                           "tls_insecure",
                                           "protocol",
                                           "forward_caller_key"};
    for (const json &e : root.at("endpoints")) {
        for (auto it = e.begin(); it != e.end(); ++it) {
            QVERIFY2(allowed.count(it.key()), it.key().c_str());
        }
    }
    QCOMPARE(root.size(), std::size_t(2));
}

void tst_ProjectConfig::tlsKeys()
{
    // A real PEM certificate (a test-only CA; see tests/data/README.md).
    const QByteArray pem = readFile(QStringLiteral(SLUICE_EXAMPLES_DIR "/../../tests/data/other-ca.crt"));
    QVERIFY(pem.startsWith("-----BEGIN CERTIFICATE-----"));
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QVERIFY(QDir(dir.path()).mkpath(QStringLiteral("certs")));
    QVERIFY(writeFile(dir.filePath(QStringLiteral("certs/ca.pem")), pem));
    QVERIFY(writeFile(dir.filePath(QStringLiteral("certs/empty.pem")), "not a certificate\n"));

    // A relative ca_file is relative to the project file, wherever the run starts.
    const QString path = dir.filePath(QStringLiteral("p.json"));
    QVERIFY(writeFile(
        path, "{\"endpoints\":[{\"name\":\"private\",\"url\":\"https://llm.internal/v1/chat/completions\","
              "\"ca_file\":\"certs/ca.pem\"},{\"name\":\"lab\",\"url\":\"https://lab/v1/messages\","
              "\"tls_insecure\":true},{\"name\":\"public\",\"url\":\"https://api.example/v1/messages\"}]}"));
    const auto loaded = ProjectConfig::load(path);
    QVERIFY2(loaded, qPrintable(loaded ? QString() : loaded.error().message));
    QCOMPARE(loaded->endpoints.at(0).caFile, QDir(dir.path()).filePath(QStringLiteral("certs/ca.pem")));
    QVERIFY(!loaded->endpoints.at(0).tlsInsecure);
    QVERIFY(loaded->endpoints.at(1).caFile.isEmpty());
    QVERIFY(loaded->endpoints.at(1).tlsInsecure);
    QVERIFY(loaded->endpoints.at(2).caFile.isEmpty()); // the default: the system's CAs, verified
    QVERIFY(!loaded->endpoints.at(2).tlsInsecure);

    // Written only when set, and read back the same.
    const json saved = loaded->toJson();
    QCOMPARE(QString::fromStdString(saved.at("endpoints").at(0).at("ca_file").get<std::string>()),
             loaded->endpoints.at(0).caFile);
    QVERIFY(!saved.at("endpoints").at(0).contains("tls_insecure"));
    QVERIFY(saved.at("endpoints").at(1).at("tls_insecure").get<bool>());
    QVERIFY(!saved.at("endpoints").at(2).contains("ca_file"));
    const auto back = ProjectConfig::fromJson(saved, FileName);
    QVERIFY2(back, qPrintable(back ? QString() : back.error().message));
    QCOMPARE(back->endpoints.at(0).caFile, loaded->endpoints.at(0).caFile);
    QVERIFY(back->endpoints.at(1).tlsInsecure);

    // A file that holds no certificate is refused when the project is read, not at the first send.
    QVERIFY(writeFile(
        path,
        "{\"endpoints\":[{\"url\":\"https://h/v1/chat/completions\",\"ca_file\":\"certs/empty.pem\"}]}"));
    const auto empty = ProjectConfig::load(path);
    QVERIFY(!empty);
    QCOMPARE(empty.error().message,
             QStringLiteral("p.json: endpoints[0].ca_file: \"%1\" holds no PEM certificate (-----BEGIN "
                            "CERTIFICATE-----)")
                 .arg(QDir(dir.path()).filePath(QStringLiteral("certs/empty.pem"))));
}

void tst_ProjectConfig::sharedBlock()
{
    const auto plain = parse("{\"endpoints\":[" + OneEndpoint + "]}");
    QVERIFY(plain);
    QVERIFY(!plain->shared.isEnabled());
    QVERIFY(!plain->toJson().contains("shared"));

    const auto result = parse(R"({"endpoints":[{"name":"a","url":"http://h/v1/chat/completions","rpm":600}],
        "shared":{"redis":"redis://10.0.0.5:6380/3","namespace":"team-a","on_redis_down":"fail_open",
        "expected_processes":4}})");
    QVERIFY2(result, result ? "" : qPrintable(result.error().message));
    QVERIFY(result->shared.isEnabled());
    QCOMPARE(result->shared.nameSpace, QStringLiteral("team-a"));
    QVERIFY(result->shared.onRedisDown == SharedConfig::OnRedisDown::FailOpen);
    QCOMPARE(result->shared.expectedProcesses, 4);
    const auto address = SharedConfig::parseRedisUrl(result->shared.redisUrl);
    QVERIFY(address);
    QCOMPARE(address->host, QStringLiteral("10.0.0.5"));
    QCOMPARE(address->port, quint16(6380));
    QCOMPARE(address->db, 3);

    // Defaults: port 6379, database 0, fail_closed; and the block survives a save/load.
    const auto defaults = parse(R"({"endpoints":[{"name":"a","url":"http://h/v1/chat/completions"}],
        "shared":{"redis":"redis://localhost","namespace":"t"}})");
    QVERIFY(defaults);
    QVERIFY(defaults->shared.onRedisDown == SharedConfig::OnRedisDown::FailClosed);
    QCOMPARE(SharedConfig::parseRedisUrl(defaults->shared.redisUrl)->port, quint16(6379));
    QCOMPARE(SharedConfig::parseRedisUrl(defaults->shared.redisUrl)->db, 0);
    const auto back = ProjectConfig::fromJson(result->toJson(), FileName);
    QVERIFY(back);
    QCOMPARE(back->shared.redisUrl, result->shared.redisUrl);
    QCOMPARE(back->shared.nameSpace, result->shared.nameSpace);
    QVERIFY(back->shared.onRedisDown == result->shared.onRedisDown);
    QCOMPARE(back->shared.expectedProcesses, 4);
}

void tst_ProjectConfig::validateChecksRangesSetOutsideTheFile_data()
{
    QTest::addColumn<QString>("field");
    QTest::addColumn<double>("value");
    QTest::addColumn<QString>("expected"); // empty: valid
    QTest::newRow("weight at its maximum") << "weight" << Bounds::Weight.max << QString();
    QTest::newRow("weight above") << "weight" << Bounds::Weight.max * 2 << "endpoints[0].weight";
    QTest::newRow("negative weight") << "weight" << -2.0 << "endpoints[0].weight: -2 is out of range";
    QTest::newRow("rpm NaN") << "rpm" << std::nan("") << "endpoints[0].rpm";
    QTest::newRow("max in flight 0") << "max_in_flight" << 0.0 << "endpoints[0].max_in_flight";
    QTest::newRow("timeout 0") << "timeout_s" << 0.0 << "endpoints[0].timeout_s";
    QTest::newRow("global rps negative") << "limits.rps" << -5.0 << "limits.rps: -5 is out of range";
    QTest::newRow("attempts 0") << "limits.max_attempts" << 0.0 << "limits.max_attempts";
}

void tst_ProjectConfig::validateChecksRangesSetOutsideTheFile()
{
    // CLI flags, the desktop app and code set values the loader never saw: validate() checks the
    // same bounds the loader does.
    QFETCH(QString, field);
    QFETCH(double, value);
    QFETCH(QString, expected);
    ProjectConfig p;
    p.endpoints = {
        EndpointConfig::fromUrl(QUrl(QStringLiteral("http://127.0.0.1:1/v1/chat/completions")), 0)};
    EndpointConfig &e = p.endpoints[0];
    if (field == QLatin1String("weight")) {
        e.weight = value;
    } else if (field == QLatin1String("rpm")) {
        e.rpm = value;
    } else if (field == QLatin1String("max_in_flight")) {
        e.maxInFlight = int(value);
    } else if (field == QLatin1String("timeout_s")) {
        e.timeoutS = value;
    } else if (field == QLatin1String("limits.rps")) {
        p.limits.rps = value;
    } else if (field == QLatin1String("limits.max_attempts")) {
        p.limits.retry.maxAttempts = int(value);
    }
    const auto valid = p.validate(QStringLiteral("cli"));
    if (expected.isEmpty()) {
        QVERIFY2(valid, qPrintable(valid ? QString() : valid.error().message));
    } else {
        QVERIFY(!valid);
        QVERIFY2(valid.error().message.contains(expected), qPrintable(valid.error().message));
    }
}

QTEST_GUILESS_MAIN(tst_ProjectConfig)
#include "tst_projectconfig.moc"
