#include "provideradapter.h"

#include "net/dialect.h"

#include <QLocale>
#include <QTimeZone>

#include <algorithm>
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
/// keys wins; a usage that is not an object, or a count that is not a number, reads as none). Two
/// levels deep it follows the `cached_tokens` of `prompt_tokens_details` / `input_tokens_details`.
/// Allocates nothing of its own (the parser's key strings are its own).
class ReplyScanner final : public nlohmann::json_sax<json>
{
public:
    enum Count {
        Input,
        Output,
        Prompt,
        Completion,
        CacheRead,
        CacheCreation,
        PromptCached,
        InputCached,
        Counts
    };

    bool topIsObject = false;
    bool hasInputTokensKey = false; ///< "input_tokens" present in usage, whatever its value
    double counts[Counts] = {};

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
            m_key = usageKey(name);
            hasInputTokensKey = hasInputTokensKey || (m_key == Key::Count && m_count == Input);
        } else if (m_depth == 3 && m_details != Counts) {
            m_key = name == "cached_tokens" ? Key::Cached : Key::Other;
        }
        return true;
    }
    bool parse_error(std::size_t, const std::string &, const nlohmann::detail::exception &) override
    {
        return false;
    }

private:
    enum class Key { Other, Usage, Count, Details, Cached };

    Key usageKey(const string_t &name)
    {
        static constexpr std::pair<const char *, Count> names[] = {
            {"input_tokens", Input},
            {"output_tokens", Output},
            {"prompt_tokens", Prompt},
            {"completion_tokens", Completion},
            {"cache_read_input_tokens", CacheRead},
            {"cache_creation_input_tokens", CacheCreation},
            {"prompt_tokens_details", PromptCached},
            {"input_tokens_details", InputCached},
        };
        for (const auto &[text, count] : names) {
            if (name == text) {
                m_count = count;
                return count == PromptCached || count == InputCached ? Key::Details : Key::Count;
            }
        }
        return Key::Other;
    }
    /// A value at the current depth: the usage member itself, one of its counts, or a detail's count.
    bool scalar(double value)
    {
        if (m_depth == 1 && m_key == Key::Usage) {
            startUsage(false);
        } else if (m_depth == 2 && m_inUsage && m_key != Key::Other) {
            counts[m_count] = m_key == Key::Count ? value : 0; // details that are not an object: none
        } else if (m_depth == 3 && m_details != Counts && m_key == Key::Cached) {
            counts[m_details] = value;
        }
        return true;
    }
    bool open(bool object)
    {
        if (m_depth == 0) {
            topIsObject = object;
        } else if (m_depth == 1 && m_key == Key::Usage) {
            startUsage(object);
        } else if (m_depth == 2 && m_inUsage && m_key != Key::Other) {
            counts[m_count] = 0; // an object or array where a count should be; details start empty
            m_details = m_key == Key::Details && object ? m_count : Counts;
        } else if (m_depth == 3 && m_details != Counts && m_key == Key::Cached) {
            counts[m_details] = 0;
        }
        ++m_depth;
        return true;
    }
    bool close()
    {
        if (--m_depth < 3) {
            m_details = Counts;
        }
        if (m_depth < 2) {
            m_inUsage = false;
        }
        m_key = Key::Other;
        return true;
    }
    void startUsage(bool object)
    {
        std::fill(std::begin(counts), std::end(counts), 0.0);
        hasInputTokensKey = false;
        m_inUsage = object;
    }

    int m_depth = 0;
    bool m_inUsage = false;
    Count m_details = Counts; ///< the details object being read (PromptCached / InputCached), or none
    Count m_count = Input;
    Key m_key = Key::Other;
};

qint64 count(double v)
{
    // As integerAt(): counts beyond any real reply (or beyond qint64) are garbage, read as 0.
    return std::isfinite(v) && v > 0 && v < 1e15 ? qint64(v) : 0;
}

/// The one Usage of both readers, from the counts of either dialect (garbage already read as 0).
Usage combine(bool inputShape, qint64 input, qint64 output, qint64 prompt, qint64 completion,
              qint64 cacheRead, qint64 cacheCreation, qint64 promptCached, qint64 inputCached)
{
    Usage u;
    // Anthropic's input_tokens leave out what the cache served or stored; OpenAI's counts include it.
    u.cachedInputTokens = cacheRead + (inputShape ? inputCached : promptCached);
    u.cacheWriteTokens = cacheCreation;
    u.inputTokens = (inputShape ? input : prompt) + cacheRead + cacheCreation;
    u.outputTokens = inputShape ? output : completion;
    // A reply that claims more cached than input tokens: the input is at least what it cached.
    u.inputTokens = std::max(u.inputTokens, u.cachedInputTokens + u.cacheWriteTokens);
    return u;
}

} // namespace

std::optional<Usage> ProviderAdapter::scanReply(QByteArrayView body, Provider provider)
{
    ReplyScanner scanner;
    if (!json::sax_parse(body.data(), body.data() + body.size(), &scanner) || !scanner.topIsObject) {
        return std::nullopt;
    }
    const auto c = [&scanner](ReplyScanner::Count which) {
        return count(scanner.counts[which]);
    };
    using S = ReplyScanner;
    return combine(provider == Provider::Anthropic || scanner.hasInputTokensKey, c(S::Input), c(S::Output),
                   c(S::Prompt), c(S::Completion), c(S::CacheRead), c(S::CacheCreation), c(S::PromptCached),
                   c(S::InputCached));
}

Usage ProviderAdapter::usage(const json &reply, Provider provider)
{
    const auto it = reply.find("usage");
    if (it == reply.end() || !it->is_object()) {
        return Usage{};
    }
    const auto cached = [&it](const char *details) {
        const auto d = it->find(details);
        return d != it->end() && d->is_object() ? integerAt(*d, "cached_tokens") : 0;
    };
    return combine(provider == Provider::Anthropic || it->contains("input_tokens"),
                   integerAt(*it, "input_tokens"), integerAt(*it, "output_tokens"),
                   integerAt(*it, "prompt_tokens"), integerAt(*it, "completion_tokens"),
                   integerAt(*it, "cache_read_input_tokens"), integerAt(*it, "cache_creation_input_tokens"),
                   cached("prompt_tokens_details"), cached("input_tokens_details"));
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
