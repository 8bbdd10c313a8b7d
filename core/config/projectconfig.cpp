#include "projectconfig.h"

#include "config/pricetable.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>
#include <QSaveFile>
#include <QSet>
#include <QSslCertificate>

#include <algorithm>
#include <cmath>
#include <optional>
#include <tuple>

namespace Sluice {

using json = nlohmann::json;

namespace {

/// Where a JSON text first goes wrong (1-based byte offset, 0 when unknown), without exceptions: a
/// SAX pass that only notes the position of the first error (syntax, or a number out of range).
std::size_t firstErrorOffset(const QByteArray &bytes)
{
    struct Locator
    {
        std::size_t offset = 0;
        bool null() { return true; }
        bool boolean(bool) { return true; }
        bool number_integer(json::number_integer_t) { return true; }
        bool number_unsigned(json::number_unsigned_t) { return true; }
        bool number_float(json::number_float_t, const json::string_t &) { return true; }
        bool string(json::string_t &) { return true; }
        bool binary(json::binary_t &) { return true; }
        bool start_object(std::size_t) { return true; }
        bool key(json::string_t &) { return true; }
        bool end_object() { return true; }
        bool start_array(std::size_t) { return true; }
        bool end_array() { return true; }
        bool parse_error(std::size_t position, const std::string &, const json::exception &)
        {
            offset = position;
            return false;
        }
    } locator;
    json::sax_parse(bytes.constData(), bytes.constData() + bytes.size(), &locator);
    return locator.offset;
}

int editDistance(const QString &a, const QString &b)
{
    std::vector<int> row(std::size_t(b.size()) + 1);
    for (qsizetype j = 0; j <= b.size(); ++j) {
        row[std::size_t(j)] = int(j);
    }
    for (qsizetype i = 1; i <= a.size(); ++i) {
        int diagonal = row[0];
        row[0] = int(i);
        for (qsizetype j = 1; j <= b.size(); ++j) {
            const int above = row[std::size_t(j)];
            const int cost = a.at(i - 1) == b.at(j - 1) ? 0 : 1;
            row[std::size_t(j)] = std::min({above + 1, row[std::size_t(j - 1)] + 1, diagonal + cost});
            diagonal = above;
        }
    }
    return row[std::size_t(b.size())];
}

QString describeType(const json &value)
{
    switch (value.type()) {
    case json::value_t::null:
        return QStringLiteral("null");
    case json::value_t::boolean:
        return value.get<bool>() ? QStringLiteral("true") : QStringLiteral("false");
    case json::value_t::string:
        return QStringLiteral("the string \"%1\"")
            .arg(QString::fromStdString(value.get<std::string>()).left(40));
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
        return QStringLiteral("the number ") + QString::fromStdString(value.dump());
    case json::value_t::array:
        return QStringLiteral("an array");
    case json::value_t::object:
        return QStringLiteral("an object");
    default:
        return QStringLiteral("an unsupported value");
    }
}

/// Reads one JSON object's keys with type checks, remembering the first error with its key path.
class ObjectReader
{
public:
    ObjectReader(const json &object, QString path, QString fileName)
        : m_object(object)
        , m_path(std::move(path))
        , m_fileName(std::move(fileName))
    {
    }

    /// Rejects keys not in `known`, suggesting the closest known key.
    void rejectUnknownKeys(const QStringList &known)
    {
        for (auto it = m_object.begin(); it != m_object.end() && !m_error; ++it) {
            const QString key = QString::fromStdString(it.key());
            if (known.contains(key)) {
                continue;
            }
            QString hint;
            for (const QString &candidate : known) {
                if (editDistance(key, candidate) <= 2) {
                    hint = QStringLiteral(" (did you mean \"%1\"?)").arg(candidate);
                    break;
                }
            }
            fail(key,
                 QStringLiteral("unknown key%1; known keys: %2").arg(hint, known.join(QStringLiteral(", "))));
        }
    }

    std::optional<QString> string(const char *key, bool required = false)
    {
        const json *v = find(key, required);
        if (!v) {
            return std::nullopt;
        }
        if (!v->is_string()) {
            fail(key, QStringLiteral("expected a string, got %1").arg(describeType(*v)));
            return std::nullopt;
        }
        return QString::fromStdString(v->get<std::string>());
    }

    std::optional<double> number(const char *key, double min, double max)
    {
        const json *v = find(key, false);
        if (!v) {
            return std::nullopt;
        }
        if (!v->is_number()) {
            fail(key, QStringLiteral("expected a number, got %1").arg(describeType(*v)));
            return std::nullopt;
        }
        const double d = v->get<double>();
        if (!std::isfinite(d) || d < min || d > max) {
            fail(key, QStringLiteral("%1 is out of range [%2, %3]")
                          .arg(QString::fromStdString(v->dump()))
                          .arg(min)
                          .arg(max));
            return std::nullopt;
        }
        return d;
    }

    std::optional<double> number(const char *key, Range range) { return number(key, range.min, range.max); }
    std::optional<int> integer(const char *key, Range range)
    {
        return integer(key, int(range.min), int(range.max));
    }

    std::optional<bool> boolean(const char *key)
    {
        const json *v = find(key, false);
        if (!v) {
            return std::nullopt;
        }
        if (!v->is_boolean()) {
            fail(key, QStringLiteral("expected true or false, got %1").arg(describeType(*v)));
            return std::nullopt;
        }
        return v->get<bool>();
    }

    std::optional<int> integer(const char *key, int min, int max)
    {
        const json *v = find(key, false);
        if (!v) {
            return std::nullopt;
        }
        if (!v->is_number_integer() && !v->is_number_unsigned()) {
            fail(key, QStringLiteral("expected a whole number, got %1").arg(describeType(*v)));
            return std::nullopt;
        }
        const double d = v->get<double>();
        if (d < min || d > max) {
            fail(key, QStringLiteral("%1 is out of range [%2, %3]")
                          .arg(QString::fromStdString(v->dump()))
                          .arg(min)
                          .arg(max));
            return std::nullopt;
        }
        return int(d);
    }

    void fail(const QString &key, const QString &message)
    {
        if (!m_error) {
            const QString where = m_path.isEmpty() ? key : m_path + QLatin1Char('.') + key;
            m_error = Error{Error::Code::InvalidConfig,
                            QStringLiteral("%1: %2: %3").arg(m_fileName, where, message), 0};
        }
    }
    void fail(const char *key, const QString &message) { fail(QString::fromLatin1(key), message); }

    const std::optional<Error> &error() const { return m_error; }

private:
    const json *find(const char *key, bool required)
    {
        const auto it = m_object.find(key);
        if (it == m_object.end()) {
            if (required) {
                fail(key, QStringLiteral("is required"));
            }
            return nullptr;
        }
        return &*it;
    }

    const json &m_object;
    QString m_path;
    QString m_fileName;
    std::optional<Error> m_error;
};

Error configError(const QString &message)
{
    return Error{Error::Code::InvalidConfig, message, 0};
}

Result<Provider> parseProvider(const QString &name, const QString &where)
{
    if (name == QLatin1String("openai")) {
        return Provider::OpenAI;
    }
    if (name == QLatin1String("anthropic")) {
        return Provider::Anthropic;
    }
    return configError(
        QStringLiteral("%1: unknown provider \"%2\"; expected \"openai\" or \"anthropic\"").arg(where, name));
}

Result<HttpProtocol> parseProtocol(const QString &name, const QString &where)
{
    for (const HttpProtocol p :
         {HttpProtocol::Auto, HttpProtocol::Http1, HttpProtocol::H2c, HttpProtocol::H2}) {
        if (name == toString(p)) {
            return p;
        }
    }
    return configError(
        QStringLiteral("%1: unknown protocol \"%2\"; expected \"auto\", \"http1\", \"h2c\" or \"h2\"")
            .arg(where, name));
}

} // namespace

QString toString(HttpProtocol protocol)
{
    switch (protocol) {
    case HttpProtocol::Http1:
        return QStringLiteral("http1");
    case HttpProtocol::H2c:
        return QStringLiteral("h2c");
    case HttpProtocol::H2:
        return QStringLiteral("h2");
    case HttpProtocol::Auto:
        break;
    }
    return QStringLiteral("auto");
}

QString toString(Provider provider)
{
    return provider == Provider::Anthropic ? QStringLiteral("anthropic") : QStringLiteral("openai");
}

Provider EndpointConfig::inferProvider(const QUrl &url)
{
    return url.path().endsWith(QLatin1String("/messages")) ? Provider::Anthropic : Provider::OpenAI;
}

bool EndpointConfig::isEndpointUrl(const QUrl &url)
{
    return url.isValid() && !url.host().isEmpty() &&
           (url.scheme() == QLatin1String("http") || url.scheme() == QLatin1String("https"));
}

EndpointConfig EndpointConfig::simulatedDemo(const QUrl &url, int index)
{
    EndpointConfig e = fromUrl(url, index);
    e.name = index == 0 ? QStringLiteral("sim-a") : QStringLiteral("sim-b");
    e.weight = index == 0 ? 3 : 1;
    e.model = QStringLiteral("sluice-sim-1");
    e.price.inputPerMtok = 0.5;
    e.price.outputPerMtok = 1.5;
    return e;
}

EndpointConfig EndpointConfig::fromUrl(const QUrl &url, int index)
{
    EndpointConfig e;
    e.name = QStringLiteral("endpoint-%1").arg(index + 1);
    e.url = url;
    e.provider = inferProvider(url);
    return e;
}

namespace {

/// An endpoint's "price" block: a price for every model sent there, and/or "models": {name: price}.
Result<void> readPriceBlock(const json &block, const QString &where, EndpointConfig &e)
{
    auto price = PriceTable::readPrice(block, where, {QStringLiteral("models")});
    if (!price) {
        return price.error();
    }
    e.price = *price;
    const auto models = block.find("models");
    if (models == block.end()) {
        return {};
    }
    if (!models->is_object()) {
        return configError(where + QStringLiteral(".models: expected an object {\"model name\": {price}}"));
    }
    for (auto it = models->begin(); it != models->end(); ++it) {
        const QString name = QString::fromStdString(it.key());
        auto modelPrice = PriceTable::readPrice(it.value(), where + QStringLiteral(".models.") + name);
        if (!modelPrice) {
            return modelPrice.error();
        }
        e.modelPrices.insert(name, *modelPrice);
    }
    return {};
}

json priceToJson(const Price &p)
{
    json o = json::object();
    if (p.isPriced()) {
        o["input_per_mtok"] = p.inputPerMtok;
        o["output_per_mtok"] = p.outputPerMtok;
    }
    if (p.cachedInputPerMtok >= 0) {
        o["cached_input_per_mtok"] = p.cachedInputPerMtok;
    }
    if (p.cacheWritePerMtok >= 0) {
        o["cache_write_per_mtok"] = p.cacheWritePerMtok;
    }
    if (p.maxOutputTokens > 0) {
        o["max_output_tokens"] = p.maxOutputTokens;
    }
    return o;
}

/// The "gateway" object: {"keys": [{"name", "sha256" | "key_env", "rpm"?}, ...]}.
Result<void> readGateway(const json &object, const QString &fileName, GatewayConfig &out)
{
    if (!object.is_object()) {
        return configError(
            QStringLiteral("%1: gateway: expected an object, got %2").arg(fileName, describeType(object)));
    }
    ObjectReader r(object, QStringLiteral("gateway"), fileName);
    r.rejectUnknownKeys({QStringLiteral("keys")});
    if (r.error()) {
        return *r.error();
    }
    const auto keys = object.find("keys");
    if (keys == object.end()) {
        return {};
    }
    if (!keys->is_array()) {
        return configError(
            QStringLiteral("%1: gateway.keys: expected an array, got %2").arg(fileName, describeType(*keys)));
    }
    for (std::size_t i = 0; i < keys->size(); ++i) {
        const json &entry = (*keys)[i];
        const QString path = QStringLiteral("gateway.keys[%1]").arg(i);
        if (!entry.is_object()) {
            return configError(QStringLiteral("%1: %2: expected an object, got %3")
                                   .arg(fileName, path, describeType(entry)));
        }
        ObjectReader k(entry, path, fileName);
        k.rejectUnknownKeys({QStringLiteral("name"), QStringLiteral("sha256"), QStringLiteral("key_env"),
                             QStringLiteral("rpm"), QStringLiteral("max_cost_usd")});
        GatewayKeyConfig key;
        key.name = k.string("name", true).value_or(QString());
        key.sha256 = k.string("sha256").value_or(QString()).toLower();
        key.keyEnv = k.string("key_env").value_or(QString());
        key.rpm = k.number("rpm", Bounds::Rpm).value_or(0);
        key.maxCostUsd = k.number("max_cost_usd", Bounds::CostUsd).value_or(0);
        if (k.error()) {
            return *k.error();
        }
        out.keys.append(key);
    }
    return {};
}

/// endpoints[index] of the project file.
Result<EndpointConfig> readEndpoint(const json &item, int index, const QString &fileName)
{
    const QString path = QStringLiteral("endpoints[%1]").arg(index);
    if (!item.is_object()) {
        return configError(
            QStringLiteral("%1: %2: expected an object, got %3").arg(fileName, path, describeType(item)));
    }
    ObjectReader r(item, path, fileName);
    r.rejectUnknownKeys({QStringLiteral("name"),
                         QStringLiteral("url"),
                         QStringLiteral("provider"),
                         QStringLiteral("weight"),
                         QStringLiteral("model"),
                         QStringLiteral("api_key_env"),
                         QStringLiteral("rpm"),
                         QStringLiteral("tpm"),
                         QStringLiteral("max_in_flight"),
                         QStringLiteral("timeout_s"),
                         QStringLiteral("anthropic_version"),
                         QStringLiteral("default_max_tokens"),
                         QStringLiteral("ca_file"),
                         QStringLiteral("tls_insecure"),
                         QStringLiteral("protocol"),
                         QStringLiteral("forward_caller_key"),
                         QStringLiteral("stream"),
                         QStringLiteral("stall_timeout_s"),
                         QStringLiteral("price"),
                         QStringLiteral("max_cost_usd")});
    EndpointConfig e;
    e.name = r.string("name").value_or(QStringLiteral("endpoint-%1").arg(index + 1));
    if (const auto url = r.string("url", true)) {
        e.url = QUrl(*url, QUrl::StrictMode);
        if (!EndpointConfig::isEndpointUrl(e.url)) {
            r.fail("url", QStringLiteral("\"%1\" is not an http:// or https:// URL with a host").arg(*url));
        }
        e.provider = EndpointConfig::inferProvider(e.url);
    }
    if (const auto provider = r.string("provider")) {
        const auto parsed = parseProvider(*provider, QStringLiteral("%1: %2.provider").arg(fileName, path));
        if (!parsed) {
            return parsed.error();
        }
        e.provider = *parsed;
    }
    e.weight = r.number("weight", Bounds::Weight).value_or(e.weight);
    e.model = r.string("model").value_or(QString());
    e.apiKeyEnv = r.string("api_key_env").value_or(QString());
    e.rpm = r.number("rpm", Bounds::Rpm).value_or(e.rpm);
    e.tpm = r.number("tpm", Bounds::Tpm).value_or(e.tpm);
    e.maxInFlight = r.integer("max_in_flight", Bounds::MaxInFlight).value_or(e.maxInFlight);
    e.timeoutS = r.number("timeout_s", Bounds::TimeoutS).value_or(e.timeoutS);
    e.anthropicVersion = r.string("anthropic_version").value_or(e.anthropicVersion);
    e.defaultMaxTokens =
        r.integer("default_max_tokens", Bounds::DefaultMaxTokens).value_or(e.defaultMaxTokens);
    e.caFile = r.string("ca_file").value_or(QString());
    if (item.contains("ca_file") && e.caFile.isEmpty()) {
        r.fail("ca_file", QStringLiteral("must not be empty (leave the key out to use the system's CAs)"));
    }
    e.tlsInsecure = r.boolean("tls_insecure").value_or(false);
    e.forwardCallerKey = r.boolean("forward_caller_key").value_or(false);
    e.stream = r.boolean("stream").value_or(false);
    e.stallTimeoutS = r.number("stall_timeout_s", Bounds::TimeoutS).value_or(e.stallTimeoutS);
    e.maxCostUsd = r.number("max_cost_usd", Bounds::CostUsd).value_or(0);
    if (const auto price = item.find("price"); price != item.end()) {
        if (auto read = readPriceBlock(*price, QStringLiteral("%1: %2.price").arg(fileName, path), e);
            !read) {
            return read.error();
        }
    }
    if (const auto protocol = r.string("protocol")) {
        const auto parsed = parseProtocol(*protocol, QStringLiteral("%1: %2.protocol").arg(fileName, path));
        if (!parsed) {
            return parsed.error();
        }
        e.protocol = *parsed;
    }
    if (r.error()) {
        return *r.error();
    }
    return e;
}

/// The project file's "limits" object.
Result<void> readLimits(const json &limits, const QString &fileName, LimitsConfig &l)
{
    if (!limits.is_object()) {
        return configError(
            QStringLiteral("%1: limits: expected an object, got %2").arg(fileName, describeType(limits)));
    }
    ObjectReader r(limits, QStringLiteral("limits"), fileName);
    r.rejectUnknownKeys({QStringLiteral("rps"), QStringLiteral("tpm"), QStringLiteral("max_attempts"),
                         QStringLiteral("backoff_base_ms"), QStringLiteral("backoff_max_ms"),
                         QStringLiteral("max_cost_usd"), QStringLiteral("allow_unpriced")});
    l.rps = r.number("rps", Bounds::GlobalRps).value_or(l.rps);
    l.tpm = r.number("tpm", Bounds::Tpm).value_or(l.tpm);
    l.retry.maxAttempts = r.integer("max_attempts", Bounds::MaxAttempts).value_or(l.retry.maxAttempts);
    l.retry.baseDelayMs = r.number("backoff_base_ms", Bounds::BackoffMs).value_or(l.retry.baseDelayMs);
    l.retry.maxDelayMs = r.number("backoff_max_ms", Bounds::BackoffMs).value_or(l.retry.maxDelayMs);
    l.maxCostUsd = r.number("max_cost_usd", Bounds::CostUsd).value_or(0);
    l.allowUnpriced = r.boolean("allow_unpriced").value_or(false);
    if (r.error()) {
        return *r.error();
    }
    return {};
}

/// The project file's "shared" object (limits shared through Redis).
Result<void> readShared(const json &shared, const QString &fileName, SharedConfig &c)
{
    if (!shared.is_object()) {
        return configError(
            QStringLiteral("%1: shared: expected an object, got %2").arg(fileName, describeType(shared)));
    }
    ObjectReader r(shared, QStringLiteral("shared"), fileName);
    r.rejectUnknownKeys({QStringLiteral("redis"), QStringLiteral("namespace"),
                         QStringLiteral("on_redis_down"), QStringLiteral("expected_processes")});
    c.redisUrl = r.string("redis", true).value_or(QString());
    c.nameSpace = r.string("namespace", true).value_or(QString());
    const QString mode = r.string("on_redis_down").value_or(QStringLiteral("fail_closed"));
    c.expectedProcesses = r.integer("expected_processes", 1, 100000).value_or(1);
    if (r.error()) {
        return *r.error();
    }
    if (mode == QLatin1String("fail_open")) {
        c.onRedisDown = SharedConfig::OnRedisDown::FailOpen;
    } else if (mode == QLatin1String("fail_closed")) {
        c.onRedisDown = SharedConfig::OnRedisDown::FailClosed;
    } else {
        return configError(
            QStringLiteral("%1: shared.on_redis_down: \"%2\" is not one of fail_closed, fail_open")
                .arg(fileName, mode));
    }
    return {};
}

} // namespace

Result<ProjectConfig> ProjectConfig::fromJson(const json &root, const QString &fileName)
{
    if (!root.is_object()) {
        return configError(QStringLiteral("%1: the project must be a JSON object, got %2")
                               .arg(fileName, describeType(root)));
    }
    ProjectConfig project;
    ObjectReader top(root, QString(), fileName);
    top.rejectUnknownKeys({QStringLiteral("endpoints"), QStringLiteral("limits"), QStringLiteral("shared"),
                           QStringLiteral("gateway")});
    if (top.error()) {
        return *top.error();
    }

    const auto endpoints = root.find("endpoints");
    if (endpoints == root.end() || !endpoints->is_array()) {
        return configError(QStringLiteral("%1: endpoints: expected an array of endpoint objects%2")
                               .arg(fileName, endpoints == root.end()
                                                  ? QStringLiteral(" (missing)")
                                                  : QStringLiteral(", got ") + describeType(*endpoints)));
    }
    int index = 0;
    for (const json &item : *endpoints) {
        auto endpoint = readEndpoint(item, index++, fileName);
        if (!endpoint) {
            return endpoint.error();
        }
        project.endpoints.append(*endpoint);
    }

    if (const auto limits = root.find("limits"); limits != root.end()) {
        if (auto read = readLimits(*limits, fileName, project.limits); !read) {
            return read.error();
        }
    }

    if (const auto shared = root.find("shared"); shared != root.end()) {
        if (auto read = readShared(*shared, fileName, project.shared); !read) {
            return read.error();
        }
    }

    if (const auto gateway = root.find("gateway"); gateway != root.end()) {
        if (auto read = readGateway(*gateway, fileName, project.gateway); !read) {
            return read.error();
        }
    }

    if (auto valid = project.validate(fileName); !valid) {
        return valid.error();
    }
    return project;
}

QString toString(SharedConfig::OnRedisDown mode)
{
    return mode == SharedConfig::OnRedisDown::FailOpen ? QStringLiteral("fail_open")
                                                       : QStringLiteral("fail_closed");
}

Result<SharedConfig::Address> SharedConfig::parseRedisUrl(const QString &text)
{
    const QUrl url(text, QUrl::StrictMode);
    const auto bad = [&text](const QString &why) {
        return Error{Error::Code::InvalidConfig, QStringLiteral("\"%1\" %2").arg(text, why), 0};
    };
    if (!url.isValid() || url.scheme() != QLatin1String("redis") || url.host().isEmpty()) {
        return bad(QStringLiteral("is not a redis://host[:port][/db] URL"));
    }
    if (!url.userInfo().isEmpty() || url.hasQuery() || url.hasFragment()) {
        return bad(QStringLiteral("has parts Sluice does not use (user, password, query, fragment)"));
    }
    Address a;
    a.host = url.host();
    const int port = url.port(6379);
    if (port < 1 || port > 65535) {
        return bad(QStringLiteral("has no valid port"));
    }
    a.port = quint16(port);
    QString path = url.path();
    if (path.startsWith(QLatin1Char('/'))) {
        path.remove(0, 1);
    }
    if (!path.isEmpty()) {
        bool ok = false;
        a.db = path.toInt(&ok);
        if (!ok || a.db < 0 || a.db > 1000000) {
            return bad(QStringLiteral("names no database number after the host"));
        }
    }
    return a;
}

bool ProjectConfig::hasBudget() const
{
    return limits.hasBudget() ||
           std::any_of(endpoints.cbegin(), endpoints.cend(),
                       [](const EndpointConfig &e) { return e.maxCostUsd > 0; }) ||
           std::any_of(gateway.keys.cbegin(), gateway.keys.cend(),
                       [](const GatewayKeyConfig &k) { return k.maxCostUsd > 0; });
}

Result<QList<QByteArray>> ProjectConfig::apiKeys(const QHash<QString, QByteArray> &supplied) const
{
    QList<QByteArray> keys;
    for (const EndpointConfig &e : endpoints) {
        QByteArray key = supplied.value(e.name);
        if (key.isEmpty() && !e.apiKeyEnv.isEmpty()) {
            key = qgetenv(e.apiKeyEnv.toLocal8Bit().constData());
            if (key.isEmpty()) {
                return Error{
                    Error::Code::InvalidConfig,
                    QStringLiteral("endpoint \"%1\": environment variable %2 (api_key_env) is not set")
                        .arg(e.name, e.apiKeyEnv),
                    0};
            }
        }
        keys.append(key);
    }
    return keys;
}

namespace {

Result<void> validateGateway(const ProjectConfig &project, const QString &fileName)
{
    static const QRegularExpression hexPattern(QStringLiteral("^[0-9a-f]{64}$"));
    static const QRegularExpression namePattern(QStringLiteral("^[A-Za-z0-9._:@/-]{1,64}$"));
    QSet<QString> names;
    for (qsizetype i = 0; i < project.gateway.keys.size(); ++i) {
        const GatewayKeyConfig &k = project.gateway.keys.at(i);
        const QString path = QStringLiteral("%1: gateway.keys[%2]").arg(fileName).arg(i);
        if (!namePattern.match(k.name).hasMatch()) {
            return configError(
                path + QStringLiteral(".name: \"%1\" must be 1-64 characters of A-Z a-z 0-9 . _ : @ / -")
                           .arg(k.name));
        }
        if (names.contains(k.name)) {
            return configError(path + QStringLiteral(".name: \"%1\" is used by an earlier key").arg(k.name));
        }
        names.insert(k.name);
        if (k.sha256.isEmpty() == k.keyEnv.isEmpty()) {
            return configError(path +
                               QStringLiteral(": give either sha256 (the key's SHA-256 in hex) or key_env "
                                              "(the variable holding the key), not both"));
        }
        if (!k.sha256.isEmpty() && !hexPattern.match(k.sha256).hasMatch()) {
            return configError(path +
                               QStringLiteral(".sha256: must be 64 hex digits (sha256sum of the key)"));
        }
    }
    if (project.gateway.requiresKeys()) {
        for (const EndpointConfig &e : project.endpoints) {
            if (e.forwardCallerKey) {
                return configError(
                    QStringLiteral("%1: endpoint \"%2\": forward_caller_key cannot be combined with "
                                   "gateway.keys (callers' keys are the gateway's, never a "
                                   "provider's)")
                        .arg(fileName, e.name));
            }
        }
    }
    return {};
}

} // namespace

namespace {

/// `value` of setting `name` within `range`, or an error naming it (values set by CLI flags or code,
/// which the loader never saw).
Result<void> checkRange(const QString &path, const char *name, double value, Range range)
{
    if (range.contains(value)) {
        return {};
    }
    return configError(QStringLiteral("%1.%2: %3 is out of range [%4, %5]")
                           .arg(path, QString::fromLatin1(name))
                           .arg(value)
                           .arg(range.min)
                           .arg(range.max));
}

Result<void> checkRanges(const QString &path, const EndpointConfig &e)
{
    for (const auto &[name, value, range] :
         {std::tuple{"weight", e.weight, Bounds::Weight}, std::tuple{"rpm", e.rpm, Bounds::Rpm},
          std::tuple{"tpm", e.tpm, Bounds::Tpm},
          std::tuple{"max_in_flight", double(e.maxInFlight), Bounds::MaxInFlight},
          std::tuple{"timeout_s", e.timeoutS, Bounds::TimeoutS},
          std::tuple{"stall_timeout_s", e.stallTimeoutS, Bounds::TimeoutS},
          std::tuple{"max_cost_usd", e.maxCostUsd, Bounds::CostUsd},
          std::tuple{"default_max_tokens", double(e.defaultMaxTokens), Bounds::DefaultMaxTokens}}) {
        if (auto checked = checkRange(path, name, value, range); !checked) {
            return checked;
        }
    }
    return {};
}

Result<void> checkRanges(const QString &path, const LimitsConfig &l)
{
    for (const auto &[name, value, range] :
         {std::tuple{"rps", l.rps, Bounds::GlobalRps}, std::tuple{"tpm", l.tpm, Bounds::Tpm},
          std::tuple{"max_attempts", double(l.retry.maxAttempts), Bounds::MaxAttempts},
          std::tuple{"backoff_base_ms", l.retry.baseDelayMs, Bounds::BackoffMs},
          std::tuple{"backoff_max_ms", l.retry.maxDelayMs, Bounds::BackoffMs},
          std::tuple{"max_cost_usd", l.maxCostUsd, Bounds::CostUsd}}) {
        if (auto checked = checkRange(path, name, value, range); !checked) {
            return checked;
        }
    }
    return {};
}

/// One endpoint's own checks (`path` names it in messages): ranges, URL, protocol, CA file.
Result<void> validateEndpoint(const EndpointConfig &e, const QString &path)
{
    if (auto checked = checkRanges(path, e); !checked) {
        return checked;
    }
    if (!EndpointConfig::isEndpointUrl(e.url)) {
        return configError(path + QStringLiteral(".url: \"%1\" is not an http:// or https:// URL with a host")
                                      .arg(e.url.toDisplayString()));
    }
    const bool https = e.url.scheme() == QLatin1String("https");
    if (e.protocol == HttpProtocol::H2c && https) {
        return configError(path + QStringLiteral(".protocol: \"h2c\" is HTTP/2 without TLS and needs an "
                                                 "http:// URL; use \"h2\" for https://"));
    }
    if (e.protocol == HttpProtocol::H2 && !https) {
        return configError(path + QStringLiteral(".protocol: \"h2\" is HTTP/2 over TLS and needs an "
                                                 "https:// URL; use \"h2c\" for http://"));
    }
    if (!e.caFile.isEmpty()) {
        if (e.tlsInsecure) {
            return configError(path + QStringLiteral(".tls_insecure: true turns certificate checks off, "
                                                     "so ca_file would not be used; keep only ca_file"));
        }
        if (!QFileInfo(e.caFile).isReadable()) {
            return configError(path + QStringLiteral(".ca_file: \"%1\" cannot be read").arg(e.caFile));
        }
        if (QSslCertificate::fromPath(e.caFile, QSsl::Pem).isEmpty()) {
            return configError(path + QStringLiteral(".ca_file: \"%1\" holds no PEM certificate "
                                                     "(-----BEGIN CERTIFICATE-----)")
                                          .arg(e.caFile));
        }
    }
    return {};
}

/// The "shared" block's checks (when it is on): Redis URL, namespace, process count.
Result<void> validateShared(const SharedConfig &shared, const QString &fileName)
{
    if (auto address = SharedConfig::parseRedisUrl(shared.redisUrl); !address) {
        return configError(QStringLiteral("%1: shared.redis: %2").arg(fileName, address.error().message));
    }
    static const QRegularExpression namePattern(QStringLiteral("^[A-Za-z0-9._:/-]{1,100}$"));
    if (!namePattern.match(shared.nameSpace).hasMatch()) {
        return configError(
            QStringLiteral("%1: shared.namespace: \"%2\" must be 1-100 characters of A-Z a-z 0-9 . _ : / -")
                .arg(fileName, shared.nameSpace));
    }
    if (shared.expectedProcesses < 1) {
        return configError(QStringLiteral("%1: shared.expected_processes: must be at least 1").arg(fileName));
    }
    return {};
}

} // namespace

Result<void> ProjectConfig::validate(const QString &fileName) const
{
    if (auto checked = checkRanges(fileName + QStringLiteral(": limits"), limits); !checked) {
        return checked;
    }
    if (endpoints.isEmpty()) {
        return configError(QStringLiteral("%1: endpoints: at least one endpoint is needed").arg(fileName));
    }
    QSet<QString> names;
    for (qsizetype i = 0; i < endpoints.size(); ++i) {
        const EndpointConfig &e = endpoints.at(i);
        const QString path = QStringLiteral("%1: endpoints[%2]").arg(fileName).arg(i);
        if (e.name.isEmpty()) {
            return configError(path + QStringLiteral(".name: must not be empty"));
        }
        if (names.contains(e.name)) {
            return configError(path +
                               QStringLiteral(".name: \"%1\" is used by an earlier endpoint").arg(e.name));
        }
        names.insert(e.name);
        if (auto checked = validateEndpoint(e, path); !checked) {
            return checked;
        }
    }
    if (std::none_of(endpoints.cbegin(), endpoints.cend(),
                     [](const EndpointConfig &e) { return e.weight > 0; })) {
        return configError(
            QStringLiteral("%1: endpoints: every weight is 0, so no request could be sent").arg(fileName));
    }
    if (shared.isEnabled()) {
        if (auto checked = validateShared(shared, fileName); !checked) {
            return checked;
        }
    }
    if (limits.retry.maxDelayMs < limits.retry.baseDelayMs) {
        return configError(
            QStringLiteral("%1: limits.backoff_max_ms (%2) is below limits.backoff_base_ms (%3)")
                .arg(fileName)
                .arg(limits.retry.maxDelayMs)
                .arg(limits.retry.baseDelayMs));
    }
    return validateGateway(*this, fileName);
}

Result<ProjectConfig> ProjectConfig::load(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        return Error{Error::Code::Io,
                     QStringLiteral("%1: cannot open project file: %2").arg(path, file.errorString()), 0};
    }
    if (file.size() > 16 * 1024 * 1024) {
        return configError(QStringLiteral("%1: project file is larger than 16 MiB").arg(path));
    }
    const QByteArray bytes = file.readAll();
    json root = json::parse(bytes.constData(), bytes.constData() + bytes.size(), nullptr, false);
    if (root.is_discarded()) {
        // Find where it broke: re-parse with exceptions to get the byte offset, turned into line:column.
        const std::size_t offset = firstErrorOffset(bytes);
        const QByteArray head = bytes.left(qsizetype(offset > 0 ? offset - 1 : 0));
        const qint64 line = head.count('\n') + 1;
        const qint64 column = head.size() - (head.lastIndexOf('\n') + 1) + 1;
        return Error{Error::Code::InvalidConfig,
                     QStringLiteral("%1:%2:%3: invalid JSON in project file").arg(path).arg(line).arg(column),
                     line};
    }
    // A relative ca_file is relative to the project file, not to wherever the run was started.
    if (root.is_object() && root.contains("endpoints") && root["endpoints"].is_array()) {
        const QDir projectDir = QFileInfo(path).absoluteDir();
        for (json &endpoint : root["endpoints"]) {
            if (!endpoint.is_object() || !endpoint.contains("ca_file") || !endpoint["ca_file"].is_string()) {
                continue;
            }
            const QString caFile = QString::fromStdString(endpoint["ca_file"].get<std::string>());
            if (!caFile.isEmpty() && QDir::isRelativePath(caFile)) {
                endpoint["ca_file"] = QDir::cleanPath(projectDir.filePath(caFile)).toStdString();
            }
        }
    }
    return fromJson(root, QFileInfo(path).fileName());
}

namespace {

json endpointToJson(const EndpointConfig &e)
{
    json o = {{"name", e.name.toStdString()},
              {"url", e.url.toString(QUrl::FullyEncoded).toStdString()},
              {"provider", toString(e.provider).toStdString()},
              {"weight", e.weight},
              {"max_in_flight", e.maxInFlight},
              {"timeout_s", e.timeoutS}};
    if (!e.model.isEmpty()) {
        o["model"] = e.model.toStdString();
    }
    if (!e.apiKeyEnv.isEmpty()) {
        o["api_key_env"] = e.apiKeyEnv.toStdString();
    }
    if (e.rpm > 0) {
        o["rpm"] = e.rpm;
    }
    if (e.tpm > 0) {
        o["tpm"] = e.tpm;
    }
    if (e.provider == Provider::Anthropic) {
        o["anthropic_version"] = e.anthropicVersion.toStdString();
        o["default_max_tokens"] = e.defaultMaxTokens;
    }
    if (!e.caFile.isEmpty()) {
        o["ca_file"] = e.caFile.toStdString();
    }
    if (e.forwardCallerKey) {
        o["forward_caller_key"] = true;
    }
    if (e.stream) {
        o["stream"] = true;
    }
    if (e.stallTimeoutS != EndpointConfig().stallTimeoutS) {
        o["stall_timeout_s"] = e.stallTimeoutS;
    }
    if (e.tlsInsecure) {
        o["tls_insecure"] = true;
    }
    if (e.protocol != HttpProtocol::Auto) {
        o["protocol"] = toString(e.protocol).toStdString();
    }
    json price = priceToJson(e.price);
    for (auto it = e.modelPrices.cbegin(); it != e.modelPrices.cend(); ++it) {
        price["models"][it.key().toStdString()] = priceToJson(it.value());
    }
    if (!price.empty()) {
        o["price"] = std::move(price);
    }
    if (e.maxCostUsd > 0) {
        o["max_cost_usd"] = e.maxCostUsd;
    }
    return o;
}

/// The gateway's caller keys (names, hashes, variables and their limits; never a key itself).
json gatewayKeysToJson(const GatewayConfig &gateway)
{
    json keys = json::array();
    for (const GatewayKeyConfig &k : gateway.keys) {
        json o = {{"name", k.name.toStdString()}};
        if (!k.sha256.isEmpty()) {
            o["sha256"] = k.sha256.toStdString();
        }
        if (!k.keyEnv.isEmpty()) {
            o["key_env"] = k.keyEnv.toStdString();
        }
        if (k.rpm > 0) {
            o["rpm"] = k.rpm;
        }
        if (k.maxCostUsd > 0) {
            o["max_cost_usd"] = k.maxCostUsd;
        }
        keys.push_back(std::move(o));
    }
    return keys;
}

} // namespace

json ProjectConfig::toJson() const
{
    json root = json::object();
    json list = json::array();
    for (const EndpointConfig &e : endpoints) {
        list.push_back(endpointToJson(e));
    }
    root["endpoints"] = std::move(list);
    root["limits"] = {{"rps", limits.rps},
                      {"tpm", limits.tpm},
                      {"max_attempts", limits.retry.maxAttempts},
                      {"backoff_base_ms", limits.retry.baseDelayMs},
                      {"backoff_max_ms", limits.retry.maxDelayMs}};
    if (limits.maxCostUsd > 0) {
        root["limits"]["max_cost_usd"] = limits.maxCostUsd;
    }
    if (limits.allowUnpriced) {
        root["limits"]["allow_unpriced"] = true;
    }
    if (gateway.requiresKeys()) {
        root["gateway"] = {{"keys", gatewayKeysToJson(gateway)}};
    }
    if (shared.isEnabled()) {
        root["shared"] = {{"redis", shared.redisUrl.toStdString()},
                          {"namespace", shared.nameSpace.toStdString()},
                          {"on_redis_down", toString(shared.onRedisDown).toStdString()}};
        if (shared.expectedProcesses != 1) {
            root["shared"]["expected_processes"] = shared.expectedProcesses;
        }
    }
    return root;
}

Result<void> ProjectConfig::save(const QString &path) const
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) {
        return Error{Error::Code::Io, QStringLiteral("%1: cannot write: %2").arg(path, file.errorString()),
                     0};
    }
    const std::string text = toJson().dump(2) + '\n';
    file.write(text.data(), qint64(text.size()));
    if (!file.commit()) {
        return Error{Error::Code::Io, QStringLiteral("%1: cannot write: %2").arg(path, file.errorString()),
                     0};
    }
    return {};
}

} // namespace Sluice
