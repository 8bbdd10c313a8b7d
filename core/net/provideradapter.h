#pragma once

#include "config/projectconfig.h"
#include "io/request.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QDateTime>
#include <QNetworkRequest>

#include <nlohmann/json.hpp>

#include <optional>

namespace Sluice {

/// Token counts a reply reports in its `usage` object, the same for both providers: `inputTokens` is
/// every prompt token the reply reports, those served from or written to the prompt cache included.
struct Usage
{
    qint64 inputTokens = 0;
    qint64 outputTokens = 0;
    /// Of inputTokens, those read from the prompt cache (OpenAI `prompt_tokens_details.cached_tokens`
    /// or `input_tokens_details.cached_tokens`; Anthropic `cache_read_input_tokens`).
    qint64 cachedInputTokens = 0;
    /// Of inputTokens, those written to the prompt cache (Anthropic `cache_creation_input_tokens`).
    qint64 cacheWriteTokens = 0;

    bool isEmpty() const { return inputTokens == 0 && outputTokens == 0; }
};

/// Speaks each provider's dialect: builds the HTTP body and headers for a request, reads usage and
/// rate-limit timing from replies. Stateless.
///
/// Bodies: OpenAI Batch lines send `body`; Anthropic batch lines send `params`; chat bodies are sent
/// without their `metadata`; prompts become one user message. A request that names no model gets
/// `modelOverride`, else the endpoint's model, else goes as it is. Chat-shaped bodies bound for an
/// Anthropic endpoint are translated to the Messages shape (system prompt lifted out, `max_tokens`
/// defaulted, tools and tool calls translated: see Dialect), and Anthropic-shaped bodies bound for an
/// OpenAI endpoint the other way.
class ProviderAdapter
{
public:
    /// The JSON body to send to `endpoint` for `request`.
    static nlohmann::json buildBody(const Request &request, const EndpointConfig &endpoint,
                                    const QString &modelOverride);
    /// The gateway caller's extra headers (Request::forwardHeaders) that go to `endpoint`: those named
    /// `anthropic-*` only to Anthropic endpoints, `openai-*` (any case) only to OpenAI ones.
    static QList<QPair<QByteArray, QByteArray>> forwardedHeaders(const Request &request,
                                                                 const EndpointConfig &endpoint);
    /// Whether `request` goes to `endpoint` streamed (SSE): the body's own boolean `stream` when it has
    /// one, else the endpoint's `stream` option.
    static bool streams(const Request &request, const EndpointConfig &endpoint);
    /// Makes `body` (for a `provider` endpoint) ask for a streamed reply, or not: `"stream": true`, and
    /// for OpenAI `stream_options.include_usage: true` (the usage chunk; other stream_options kept);
    /// Anthropic takes no stream_options (removed). With `stream` false only a `"stream": true` is
    /// changed (to false) and stream_options removed.
    static void setStream(nlohmann::json &body, Provider provider, bool stream);
    /// Serialises a body (invalid UTF-8 replaced, never thrown).
    static QByteArray serialize(const nlohmann::json &body);
    /// The bytes to send: the line's own text of the body (Request::bodyText) when buildBody() would
    /// change nothing in it (the endpoint speaks the body's shape: OpenAI for OpenAI Batch and bare
    /// chat bodies, Anthropic with max_tokens for Anthropic batch lines; and the body names a model,
    /// or there is none to fill in; and it already asks for a stream the way setStream() would when
    /// streams() says so), else serialize(buildBody()) with setStream(streams()).
    static QByteArray requestBody(const Request &request, const EndpointConfig &endpoint,
                                  const QString &modelOverride);
    /// A QNetworkRequest for `endpoint` with content type, auth and version headers; redirects are
    /// never followed (credentials must not travel to another origin).
    static QNetworkRequest makeRequest(const EndpointConfig &endpoint, const QByteArray &apiKey);
    /// Sets (replaces) the auth header of `request` for `endpoint`'s provider: `x-api-key` for
    /// Anthropic, `Authorization: Bearer` otherwise. Nothing when `apiKey` is empty.
    static void setApiKey(QNetworkRequest &request, const EndpointConfig &endpoint, const QByteArray &apiKey);

    /// Token counts of a parsed reply: `usage.input_tokens` / `output_tokens` for Anthropic (or when
    /// `input_tokens` is present), else `prompt_tokens` / `completion_tokens`; what is not a count
    /// reads as 0. Cached input: `cache_read_input_tokens` and `cache_creation_input_tokens` (Anthropic:
    /// added to the input, which does not count them) and the `cached_tokens` of
    /// `prompt_tokens_details` (with prompt_tokens) or `input_tokens_details` (with input_tokens), which
    /// the input already counts. The transport reads replies with scanReply(); this is its reference.
    static Usage usage(const nlohmann::json &reply, Provider provider);
    /// The same from the reply's text, without building a document: the usage when `body` is one
    /// valid JSON object (a 2xx reply's success condition), nothing when it is not.
    static std::optional<Usage> scanReply(QByteArrayView body, Provider provider);

    /// Milliseconds a server asked us to wait: `retry-after-ms` (float ms) wins, then `Retry-After`
    /// as delay-seconds or an HTTP date relative to `now`. -1 when absent or unreadable.
    static double retryAfterMs(const QByteArray &retryAfterMsHeader, const QByteArray &retryAfterHeader,
                               const QDateTime &now);

private:
    static nlohmann::json chatToAnthropic(nlohmann::json body, const EndpointConfig &endpoint);
    static nlohmann::json anthropicToChat(nlohmann::json body);
};

} // namespace Sluice
