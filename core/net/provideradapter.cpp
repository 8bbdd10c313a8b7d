#include "provideradapter.h"

#include "net/dialect.h"

#include <QLocale>
#include <QTimeZone>

#include <cmath>

namespace Sluice {

namespace {

using json = nlohmann::json;

bool isAnthropicShaped(const Request &request)
{
    return request.format == InputFormat::AnthropicBatch;
}

/// The request body inside a line (the line itself for bare bodies and prompts); null when missing.
const json *bodyOf(const Request &request)
{
    const char *key = request.format == InputFormat::OpenAIBatch      ? "body"
                      : request.format == InputFormat::AnthropicBatch ? "params"
                                                                      : nullptr;
    if (!key) {
        return &request.input;
    }
    const auto it = request.input.find(key);
    return it == request.input.end() ? nullptr : &*it;
}

/// `body` already asks for a stream as setStream() would make it.
bool asksForStream(const json &body, Provider provider)
{
    const auto stream = body.find("stream");
    if (stream == body.end() || *stream != true) {
        return false;
    }
    const auto options = body.find("stream_options");
    if (provider == Provider::Anthropic) {
        return options == body.end();
    }
    return options != body.end() && options->is_object() && options->value("include_usage", json()) == true;
}

qint64 integerAt(const json &object, const char *key)
{
    const auto it = object.find(key);
    if (it == object.end() || !it->is_number()) {
        return 0;
    }
    const double v = it->get<double>();
    // Counts beyond any real reply (or beyond qint64) are garbage: read them as 0, like other junk.
    return std::isfinite(v) && v > 0 && v < 1e15 ? qint64(v) : 0;
}

} // namespace

json ProviderAdapter::buildBody(const Request &request, const EndpointConfig &endpoint,
                                const QString &modelOverride)
{
    json body;
    switch (request.format) {
    case InputFormat::OpenAIBatch:
        body = request.input.at("body");
        break;
    case InputFormat::AnthropicBatch:
        body = request.input.at("params");
        break;
    case InputFormat::ChatBody:
        body = request.input;
        body.erase("metadata");
        body.erase("custom_id");
        break;
    case InputFormat::Prompt:
        body = request.input;
        body.erase("input");
        body.erase("metadata");
        body.erase("custom_id");
        body["messages"] = json::array({{{"role", "user"}, {"content", request.input.at("input")}}});
        break;
    }

    if (!body.contains("model") || body["model"].is_null()) {
        const QString model = !modelOverride.isEmpty() ? modelOverride : endpoint.model;
        if (!model.isEmpty()) {
            body["model"] = model.toStdString();
        }
    }

    const bool anthropicBody = isAnthropicShaped(request);
    if (endpoint.provider == Provider::Anthropic && !anthropicBody) {
        return chatToAnthropic(std::move(body), endpoint);
    }
    if (endpoint.provider == Provider::Anthropic && !body.contains("max_tokens")) {
        body["max_tokens"] = endpoint.defaultMaxTokens;
    }
    if (endpoint.provider == Provider::OpenAI && anthropicBody) {
        return anthropicToChat(std::move(body));
    }
    return body;
}

json ProviderAdapter::chatToAnthropic(json body, const EndpointConfig &endpoint)
{
    return Dialect::chatToMessages(std::move(body), endpoint.defaultMaxTokens);
}

json ProviderAdapter::anthropicToChat(json body)
{
    return Dialect::messagesToChat(std::move(body));
}

QList<QPair<QByteArray, QByteArray>> ProviderAdapter::forwardedHeaders(const Request &request,
                                                                       const EndpointConfig &endpoint)
{
    QList<QPair<QByteArray, QByteArray>> headers;
    for (const auto &header : request.forwardHeaders) {
        const QByteArray name = header.first.toLower();
        if ((!name.startsWith("anthropic-") || endpoint.provider == Provider::Anthropic) &&
            (!name.startsWith("openai-") || endpoint.provider == Provider::OpenAI)) {
            headers.append(header);
        }
    }
    return headers;
}

bool ProviderAdapter::streams(const Request &request, const EndpointConfig &endpoint)
{
    const json *body = bodyOf(request);
    if (body && body->is_object()) {
        const auto stream = body->find("stream");
        if (stream != body->end() && stream->is_boolean()) {
            return stream->get<bool>();
        }
    }
    return endpoint.stream;
}

void ProviderAdapter::setStream(json &body, Provider provider, bool stream)
{
    if (!body.is_object()) {
        return;
    }
    if (!stream) {
        if (body.contains("stream") && body["stream"] == true) {
            body["stream"] = false;
        }
        body.erase("stream_options");
        return;
    }
    body["stream"] = true;
    if (provider == Provider::Anthropic) {
        body.erase("stream_options");
        return;
    }
    json &options = body["stream_options"];
    if (!options.is_object()) {
        options = json::object();
    }
    options["include_usage"] = true;
}

QByteArray ProviderAdapter::requestBody(const Request &request, const EndpointConfig &endpoint,
                                        const QString &modelOverride)
{
    const bool stream = streams(request, endpoint);
    if (!request.bodyText.isEmpty()) {
        const json *body = nullptr;
        bool sameShape = false;
        switch (request.format) {
        case InputFormat::OpenAIBatch:
            body = &request.input.at("body");
            sameShape = endpoint.provider == Provider::OpenAI;
            break;
        case InputFormat::ChatBody:
            body = &request.input;
            sameShape = endpoint.provider == Provider::OpenAI;
            break;
        case InputFormat::AnthropicBatch:
            body = &request.input.at("params");
            sameShape = endpoint.provider == Provider::Anthropic && body->contains("max_tokens");
            break;
        case InputFormat::Prompt:
            break;
        }
        // buildBody() fills in a missing (or null) model from --model or the endpoint, if any.
        const bool modelKept = sameShape && ((modelOverride.isEmpty() && endpoint.model.isEmpty()) ||
                                             (body->contains("model") && !body->at("model").is_null()));
        // (sameShape first: `body` is set whenever it is true.)
        if (modelKept && (!stream || asksForStream(*body, endpoint.provider))) {
            return request.bodyText;
        }
    }
    json built = buildBody(request, endpoint, modelOverride);
    if (stream || built.contains("stream") || built.contains("stream_options")) {
        setStream(built, endpoint.provider, stream);
    }
    return serialize(built);
}

QByteArray ProviderAdapter::serialize(const json &body)
{
    const std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace);
    return QByteArray(text.data(), qsizetype(text.size()));
}

QNetworkRequest ProviderAdapter::makeRequest(const EndpointConfig &endpoint, const QByteArray &apiKey)
{
    QNetworkRequest request(endpoint.url);
    request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    request.setHeader(QNetworkRequest::UserAgentHeader, QByteArrayLiteral("sluice/" SLUICE_VERSION));
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::ManualRedirectPolicy);
    request.setAttribute(QNetworkRequest::CacheLoadControlAttribute, QNetworkRequest::AlwaysNetwork);
    request.setAttribute(QNetworkRequest::CacheSaveControlAttribute, false);
    if (endpoint.provider == Provider::Anthropic) {
        request.setRawHeader(QByteArrayLiteral("anthropic-version"), endpoint.anthropicVersion.toLatin1());
    }
    setApiKey(request, endpoint, apiKey);
    return request;
}

void ProviderAdapter::setApiKey(QNetworkRequest &request, const EndpointConfig &endpoint,
                                const QByteArray &apiKey)
{
    if (apiKey.isEmpty()) {
        return;
    }
    if (endpoint.provider == Provider::Anthropic) {
        request.setRawHeader(QByteArrayLiteral("x-api-key"), apiKey);
    } else {
        request.setRawHeader(QByteArrayLiteral("Authorization"), QByteArrayLiteral("Bearer ") + apiKey);
    }
}

namespace {

/// SAX handler of ProviderAdapter::scanReply: follows only the top-level object's "usage" member,
/// with the same outcome as ProviderAdapter::usage() on the parsed document (the last of repeated
/// keys wins; a usage that is not an object, or a count that is not a number, reads as none).
class ReplyScanner final : public nlohmann::json_sax<json>
{
public:
    bool topIsObject = false;
    bool hasInputTokensKey = false; ///< "input_tokens" present in usage, whatever its value
    double inputTokens = 0;
    double outputTokens = 0;
    double promptTokens = 0;
    double completionTokens = 0;

    bool null() override { return scalar(0); }
    bool boolean(bool) override { return scalar(0); }
    bool number_integer(number_integer_t v) override { return scalar(double(v)); }
    bool number_unsigned(number_unsigned_t v) override { return scalar(double(v)); }
    bool number_float(number_float_t v, const string_t &) override { return scalar(v); }
    bool string(string_t &) override { return scalar(0); }
    bool binary(binary_t &) override { return scalar(0); }
    bool start_object(std::size_t) override { return open(true); }
    bool start_array(std::size_t) override { return open(false); }
    bool end_object() override { return close(); }
    bool end_array() override { return close(); }
    bool key(string_t &name) override
    {
        if (m_depth == 1) {
            m_key = name == "usage" ? Key::Usage : Key::Other;
        } else if (m_depth == 2 && m_inUsage) {
            m_key = name == "input_tokens"        ? Key::InputTokens
                    : name == "output_tokens"     ? Key::OutputTokens
                    : name == "prompt_tokens"     ? Key::PromptTokens
                    : name == "completion_tokens" ? Key::CompletionTokens
                                                  : Key::Other;
            hasInputTokensKey = hasInputTokensKey || m_key == Key::InputTokens;
        }
        return true;
    }
    bool parse_error(std::size_t, const std::string &, const nlohmann::detail::exception &) override
    {
        return false;
    }

private:
    enum class Key { Other, Usage, InputTokens, OutputTokens, PromptTokens, CompletionTokens };

    /// A value at the current depth: the usage member itself, or one of its counts.
    bool scalar(double value)
    {
        if (m_depth == 1 && m_key == Key::Usage) {
            startUsage(false);
        } else if (m_depth == 2 && m_inUsage) {
            setCount(value);
        }
        return true;
    }
    bool open(bool object)
    {
        if (m_depth == 0) {
            topIsObject = object;
        } else if (m_depth == 1 && m_key == Key::Usage) {
            startUsage(object);
        } else if (m_depth == 2 && m_inUsage) {
            setCount(0); // an object or array where a count should be
        }
        ++m_depth;
        return true;
    }
    bool close()
    {
        if (--m_depth < 2) {
            m_inUsage = false;
        }
        return true;
    }
    void startUsage(bool object)
    {
        inputTokens = outputTokens = promptTokens = completionTokens = 0;
        hasInputTokensKey = false;
        m_inUsage = object;
    }
    void setCount(double value)
    {
        switch (m_key) {
        case Key::InputTokens:
            inputTokens = value;
            break;
        case Key::OutputTokens:
            outputTokens = value;
            break;
        case Key::PromptTokens:
            promptTokens = value;
            break;
        case Key::CompletionTokens:
            completionTokens = value;
            break;
        case Key::Other:
        case Key::Usage:
            break;
        }
    }

    int m_depth = 0;
    bool m_inUsage = false;
    Key m_key = Key::Other;
};

qint64 count(double v)
{
    // As integerAt(): counts beyond any real reply (or beyond qint64) are garbage, read as 0.
    return std::isfinite(v) && v > 0 && v < 1e15 ? qint64(v) : 0;
}

} // namespace

std::optional<Usage> ProviderAdapter::scanReply(QByteArrayView body, Provider provider)
{
    ReplyScanner scanner;
    if (!json::sax_parse(body.data(), body.data() + body.size(), &scanner) || !scanner.topIsObject) {
        return std::nullopt;
    }
    Usage u;
    if (provider == Provider::Anthropic || scanner.hasInputTokensKey) {
        u.inputTokens = count(scanner.inputTokens);
        u.outputTokens = count(scanner.outputTokens);
    } else {
        u.inputTokens = count(scanner.promptTokens);
        u.outputTokens = count(scanner.completionTokens);
    }
    return u;
}

Usage ProviderAdapter::usage(const json &reply, Provider provider)
{
    Usage u;
    const auto it = reply.find("usage");
    if (it == reply.end() || !it->is_object()) {
        return u;
    }
    if (provider == Provider::Anthropic || it->contains("input_tokens")) {
        u.inputTokens = integerAt(*it, "input_tokens");
        u.outputTokens = integerAt(*it, "output_tokens");
    } else {
        u.inputTokens = integerAt(*it, "prompt_tokens");
        u.outputTokens = integerAt(*it, "completion_tokens");
    }
    return u;
}

double ProviderAdapter::retryAfterMs(const QByteArray &retryAfterMsHeader, const QByteArray &retryAfterHeader,
                                     const QDateTime &now)
{
    bool ok = false;
    if (!retryAfterMsHeader.isEmpty()) {
        const double ms = retryAfterMsHeader.trimmed().toDouble(&ok);
        if (ok && std::isfinite(ms) && ms >= 0) {
            return ms;
        }
    }
    const QByteArray value = retryAfterHeader.trimmed();
    if (value.isEmpty()) {
        return -1;
    }
    const double seconds = value.toDouble(&ok);
    if (ok && std::isfinite(seconds) && seconds >= 0) {
        return seconds * 1000.0;
    }
    // HTTP-date, e.g. "Wed, 21 Oct 2015 07:28:00 GMT".
    QDateTime when = QDateTime::fromString(QString::fromLatin1(value), Qt::RFC2822Date);
    if (!when.isValid()) {
        when = QLocale::c().toDateTime(QString::fromLatin1(value),
                                       QStringLiteral("ddd, dd MMM yyyy HH:mm:ss 'GMT'"));
        when.setTimeZone(QTimeZone::utc());
    }
    if (!when.isValid()) {
        return -1;
    }
    return double(std::max<qint64>(0, now.msecsTo(when)));
}

} // namespace Sluice
