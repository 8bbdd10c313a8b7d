#pragma once

#include "config/price.h"
#include "util/result.h"

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QMap>
#include <QString>
#include <QUrl>

#include <nlohmann/json.hpp>

namespace Sluice {

enum class Provider {
    OpenAI,    ///< any OpenAI-compatible chat-completions server
    Anthropic, ///< Anthropic Messages API
};

QString toString(Provider provider);

/// How requests travel to an endpoint: the project file's "protocol".
enum class HttpProtocol {
    Auto,  ///< Qt's default: HTTP/1.1 on http://, HTTP/2 when ALPN offers it on https://
    Http1, ///< HTTP/1.1 only
    H2c,   ///< HTTP/2 without TLS, prior knowledge (http:// only)
    H2,    ///< HTTP/2 over TLS, negotiated by ALPN (https:// only; HTTP/1.1 if the server declines)
};

QString toString(HttpProtocol protocol);

/// The accepted range of a numeric setting. The project file's loader, ProjectConfig::validate() (also
/// after CLI overrides), the CLI's flags and the desktop app's endpoints table all use the ones in
/// Bounds, so an edited project always loads again.
struct Range
{
    double min = 0;
    double max = 0;
    bool contains(double value) const { return value >= min && value <= max; } // false for NaN
};

namespace Bounds {
inline constexpr Range Weight{0, 1e6};
inline constexpr Range Rpm{0, 1e9};
inline constexpr Range Tpm{0, 1e12};
inline constexpr Range MaxInFlight{1, 100000};
inline constexpr Range TimeoutS{0.001, 86400};
inline constexpr Range DefaultMaxTokens{1, 10000000};
inline constexpr Range GlobalRps{0, 1e9};
inline constexpr Range MaxAttempts{1, 100};
inline constexpr Range BackoffMs{0, 3600000};
inline constexpr Range CostUsd{0, 1e9}; ///< a budget in USD (0 = none)
} // namespace Bounds

/// One upstream endpoint, as in the project file's "endpoints" array.
struct EndpointConfig
{
    QString name;
    QUrl url;
    Provider provider = Provider::OpenAI;
    double weight = 1; ///< share of traffic; 0 disables the endpoint
    QString model;     ///< fills in requests that name no model (after --model)
    QString apiKeyEnv; ///< environment variable holding the key; the key itself is never stored
    double rpm = 0;    ///< requests per minute; 0 = unlimited
    double tpm = 0;    ///< tokens per minute (prompt estimate + max output, settled on usage); 0 = unlimited
    int maxInFlight = 64;  ///< concurrent requests to this endpoint
    double timeoutS = 120; ///< total deadline of one attempt
    QString anthropicVersion = QStringLiteral("2023-06-01");
    int defaultMaxTokens = 1024; ///< Anthropic requires max_tokens; used when a request has none
    /// PEM file of the CA certificates trusted for this https endpoint, instead of the system's (a
    /// private CA, a self-signed server). Relative paths in a project file are relative to that file.
    QString caFile;
    bool tlsInsecure = false; ///< no TLS certificate verification at all (tests only; prefer caFile)
    HttpProtocol protocol = HttpProtocol::Auto;
    /// Gateway: send the caller's own key (its Authorization: Bearer or x-api-key header) to this
    /// endpoint instead of the endpoint's key, when the caller sent one. Off: callers' keys are ignored.
    bool forwardCallerKey = false;
    /// Ask for streamed (SSE) replies: OpenAI `"stream": true` with `stream_options.include_usage`,
    /// Anthropic `"stream": true`. A request body's own `stream` value wins over this.
    bool stream = false;
    /// A streamed reply that sends nothing for this long fails (and is retried); apart from timeoutS.
    double stallTimeoutS = 30;
    /// The project's `price` block: `price` applies to every model sent here, `modelPrices` (its
    /// "models") to the models it names; both win over the shipped table (see CostBook). Unpriced (the
    /// default) leaves prices to the table.
    Price price;
    QMap<QString, Price> modelPrices;
    double maxCostUsd = 0; ///< what this endpoint may spend in a run (USD); 0 = no budget of its own

    /// An endpoint from a bare URL (`--endpoint URL`): weight 1, provider inferred from the path.
    static EndpointConfig fromUrl(const QUrl &url, int index);
    /// Endpoint `index` (0 or 1) of the built-in demo on the simulator at `url` (`--simulate` without a
    /// project, the desktop's Try it): sim-a weight 3, sim-b weight 1, the simulator's model with a
    /// made-up price, so the demo shows what a run spends.
    static EndpointConfig simulatedDemo(const QUrl &url, int index);
    /// "anthropic" for a path ending in /messages, else "openai".
    static Provider inferProvider(const QUrl &url);
    /// Whether `url` can be an endpoint: a valid http:// or https:// URL with a host.
    static bool isEndpointUrl(const QUrl &url);
};

/// Retry settings of a run (project "limits" and CLI flags).
struct RetryConfig
{
    int maxAttempts = 5;             ///< sends per request, first one included
    double baseDelayMs = 500;        ///< backoff before the 2nd attempt is drawn from [0, base]
    double maxDelayMs = 30000;       ///< cap of the exponential backoff
    double maxRetryAfterMs = 600000; ///< a server's Retry-After is honoured up to this
};

/// Run-wide limits, the project file's "limits" object.
struct LimitsConfig
{
    double rps = 0; ///< global requests per second; 0 = unlimited
    double tpm = 0; ///< global tokens per minute; 0 = unlimited
    /// The run's budget in USD (with a "shared" block: the team's, across processes); 0 = none.
    double maxCostUsd = 0;
    /// A budgeted run refuses models without a price unless this is set (their spend then counts 0).
    bool allowUnpriced = false;
    RetryConfig retry;

    bool hasBudget() const { return maxCostUsd > 0; }
};

/// The project file's optional "shared" object: limits shared with other Sluice processes through Redis.
/// Every process with the same Redis database and `nameSpace` draws each endpoint's rpm/tpm from one
/// budget, keyed by endpoint name (see core/shared/sharedlimits.h).
struct SharedConfig
{
    /// What the endpoints with shared limits do while Redis cannot be reached.
    enum class OnRedisDown {
        FailClosed, ///< no sends to them (nothing fails; requests wait) until Redis is back
        FailOpen,   ///< local limits at 1/N of the configured rates, N = processes last seen
    };

    QString redisUrl;  ///< redis://host[:port][/db]; empty = limits are not shared
    QString nameSpace; ///< key prefix shared by the cooperating processes
    OnRedisDown onRedisDown = OnRedisDown::FailClosed;
    /// N for fail_open before this process has heard from Redis once (later: the last count seen).
    int expectedProcesses = 1;

    bool isEnabled() const { return !redisUrl.isEmpty(); }
    /// Host, port and database of redisUrl, or an error naming what is wrong with it.
    struct Address
    {
        QString host;
        quint16 port = 6379;
        int db = 0;
    };
    static Result<Address> parseRedisUrl(const QString &url);
};

QString toString(SharedConfig::OnRedisDown mode);

/// One caller key of the gateway (the project file's "gateway.keys" entries). The key itself is never
/// stored: the project holds its SHA-256, or names the environment variable that holds it.
struct GatewayKeyConfig
{
    QString name;          ///< shown in /metrics and logs instead of the key
    QString sha256;        ///< lower-case hex SHA-256 of the key; empty when `keyEnv` is set
    QString keyEnv;        ///< environment variable holding the key (read and hashed when the gateway starts)
    double rpm = 0;        ///< requests per minute this key may make; 0 = no limit of its own
    double maxCostUsd = 0; ///< what this key's calls may spend while the gateway runs (USD); 0 = no budget
};

/// The project file's optional "gateway" object: settings of `sluice-cli serve` that belong with the
/// project. No keys (the default): callers are not authenticated (keep the gateway on loopback).
struct GatewayConfig
{
    QList<GatewayKeyConfig> keys;

    bool requiresKeys() const { return !keys.isEmpty(); }
};

/// The project file: the same JSON the GUI loads and saves and `sluice-cli run --project` reads.
/// Unknown keys and wrong values are errors that name the key ("endpoints[1].rpm: ...").
struct ProjectConfig
{
    QList<EndpointConfig> endpoints;
    LimitsConfig limits;
    SharedConfig shared;
    GatewayConfig gateway;

    static Result<ProjectConfig> fromJson(const nlohmann::json &json, const QString &fileName);
    static Result<ProjectConfig> load(const QString &path);
    nlohmann::json toJson() const;
    Result<void> save(const QString &path) const;

    /// Checks the whole configuration (also after CLI overrides): at least one endpoint, unique names,
    /// http(s) URLs, sane numbers.
    Result<void> validate(const QString &fileName) const;
    /// Each endpoint's API key (index-aligned): from `supplied` by endpoint name (the desktop app's
    /// keychain), else from its api_key_env variable; empty for endpoints that need none. An Error
    /// naming the endpoint and the variable when one is unset.
    Result<QList<QByteArray>> apiKeys(const QHash<QString, QByteArray> &supplied) const;
    /// Whether any cost budget is set: the run's, an endpoint's, or (gateway) a caller key's.
    bool hasBudget() const;
};

} // namespace Sluice
