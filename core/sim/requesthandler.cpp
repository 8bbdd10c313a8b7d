#include "requesthandler.h"

#include "sim/httprequest.h"
#include "sim/httpresponse.h"
#include "sim/prompt.h"
#include "sim/replycontent.h"
#include "util/clock.h"
#include "util/randomsource.h"

#include <nlohmann/json.hpp>

#include <cmath>

namespace Sluice::Sim {

namespace {

using json = nlohmann::json;

constexpr int kMaxJsonDepth = 64;
constexpr qsizetype kRecordedTextChars = 256;
/// The body a `body=garbage` reply carries instead of JSON (what a misconfigured proxy might send).
constexpr char kGarbageBody[] = "<html><body><h1>502 Bad Gateway</h1>simulated non-JSON body</body></html>\n";

bool isTrue(const json &object, const char *key)
{
    const auto it = object.find(key);
    return it != object.end() && it->is_boolean() && it->get<bool>();
}

/// `"stream_options": {"include_usage": true}` (OpenAI).
bool includesUsage(const json &body)
{
    const auto options = body.find("stream_options");
    return options != body.end() && options->is_object() && isTrue(*options, "include_usage");
}

} // namespace

/// The request being answered.
struct RequestHandler::Exchange
{
    const HttpRequest &request;
    bool isHead = false;
    const Dialect *dialect = nullptr;
    Simulator::Received record;
    json body;
    std::optional<Prompt> prompt; ///< views into `body`
    QByteArray headers;           ///< extra response headers
    double delayMs = 0;
    Delivery delivery = Delivery::Whole; ///< how the answer goes on the wire; only a directive changes it
    bool garbage = false;
    int dripMs = 0;
};

RequestHandler::RequestHandler(Env env)
    : m_env(env)
    , m_router(&m_openAi, &m_anthropic)
    , m_limit(env.clock)
{
}

RequestHandler::~RequestHandler() = default;

void RequestHandler::configure()
{
    const SimulatorConfig &config = *m_env.config;
    m_limit.configure(config.rps, config.burst);
    m_requiredKey = config.requireKey.toUtf8();
    m_requiredBearer = m_requiredKey.isEmpty() ? QByteArray() : "Bearer " + m_requiredKey;
    m_defaultModel = config.model.toStdString();
}

PendingReply RequestHandler::handle(const HttpRequest &request)
{
    ++m_env.stats->requests;
    Exchange x{request};
    x.isHead = request.method == QByteArrayView("HEAD");
    if (*m_env.recording) {
        x.record.atMs = m_env.clock->nowMs();
        x.record.path = QString::fromUtf8(request.path);
        x.record.authorization = request.hasAuthorization || request.hasApiKey ? QStringLiteral("present")
                                                                               : QStringLiteral("absent");
    }
    const Router::Match match = m_router.match(request.path);
    if (match.route == Router::Route::Health)
        return answerHealth(x);
    if (match.route == Router::Route::NotFound)
        return answerNotFound(x);
    x.dialect = match.dialect;
    if (request.method != QByteArrayView("POST")) {
        x.headers = QByteArrayLiteral("Allow: POST\r\n");
        return answerError(x, 405, x.dialect->invalidRequest("Method not allowed; use POST"));
    }
    if (!isAuthorized(x))
        return answerError(x, 401, x.dialect->authenticationError());
    if (std::optional<PendingReply> invalid = readBody(x))
        return std::move(*invalid);
    if (*m_env.recording)
        x.record.text = QString::fromStdString(x.prompt->lastUserText(kRecordedTextChars));
    // A scripted directive, while its `times` lasts, decides the whole answer: no own rate limit, no
    // random faults.
    if (const std::optional<Directive> directive = m_faults.take(*x.prompt))
        return answerScripted(x, *directive);
    if (std::optional<PendingReply> fault = answerOrdinaryFault(x))
        return std::move(*fault);
    return answerContent(x, 200, nullptr);
}

PendingReply RequestHandler::answerHealth(Exchange &x)
{
    const bool close = !x.request.keepAlive;
    if (x.request.method == QByteArrayView("GET") || x.isHead)
        return finish(x, httpResponse(200, QByteArrayLiteral("{\"status\":\"ok\"}"), {}, close), 200, 0);
    const json body = OpenAiDialect::error("Method not allowed; use GET", "invalid_request_error", {});
    return finish(x, httpResponse(405, dumpJson(body), QByteArrayLiteral("Allow: GET\r\n"), close), 405, 0);
}

PendingReply RequestHandler::answerNotFound(Exchange &x)
{
    const QByteArrayView method = x.request.method;
    const QByteArrayView path = x.request.path;
    const std::string message =
        "Unknown request URL: " + std::string(method.data(), std::size_t(method.size())) + ' ' +
        std::string(path.data(), std::size_t(path.size()));
    return answerError(x, 404, OpenAiDialect::error(message, "invalid_request_error", "unknown_url"));
}

PendingReply RequestHandler::answerError(Exchange &x, int status, const json &body)
{
    return finish(x, httpResponse(status, dumpJson(body), x.headers, !x.request.keepAlive), status, 0);
}

bool RequestHandler::isAuthorized(const Exchange &x) const
{
    if (m_requiredKey.isEmpty())
        return true;
    if (x.dialect == &m_anthropic)
        return x.request.hasApiKey && x.request.apiKey == m_requiredKey;
    return x.request.hasAuthorization && x.request.authorization == m_requiredBearer;
}

std::optional<PendingReply> RequestHandler::readBody(Exchange &x)
{
    bool tooDeep = false;
    const json::parser_callback_t depthGuard = [&tooDeep](int depth, json::parse_event_t, json &) {
        if (depth > kMaxJsonDepth) {
            tooDeep = true;
            return false;
        }
        return true;
    };
    const QByteArrayView bytes = x.request.body;
    x.body = json::parse(bytes.data(), bytes.data() + bytes.size(), depthGuard, false);
    if (x.body.is_discarded() || tooDeep || !x.body.is_object()) {
        return answerError(x, 400,
                           x.dialect->invalidRequest(tooDeep ? "Request body nests too deeply"
                                                             : "Request body is not a JSON object"));
    }
    x.prompt = Prompt::read(x.body);
    if (!x.prompt)
        return answerError(x, 400, x.dialect->invalidRequest("'messages' must be a non-empty array"));
    return std::nullopt;
}

PendingReply RequestHandler::answerScripted(Exchange &x, const Directive &d)
{
    const double delayMs = m_env.config->latencyMs + jitter() + double(d.delayMs);
    if (d.hang)
        return finish(x, QByteArray(), -1, 0);
    if (d.reset)
        return finish(x, QByteArray(), 0, delayMs);
    x.delayMs = delayMs;
    if (d.resetMidBody)
        x.delivery = Delivery::ResetMidBody;
    else if (d.truncate)
        x.delivery = Delivery::Truncate;
    else if (d.dripMs > 0)
        x.delivery = Delivery::Drip;
    x.dripMs = int(d.dripMs);
    x.garbage = d.garbage;
    if (!d.redirect.empty()) {
        appendHeader(x.headers, "Location", QByteArray::fromStdString(d.redirect));
        return finishBody(x, d.status,
                          OpenAiDialect::error("Moved (simulated redirect)", "redirect", "moved"));
    }
    if (d.status >= 300)
        return answerScriptedError(x, d);
    const int status = d.status >= 200 ? d.status : 200;
    if (d.garbage) {
        appendRateLimitHeaders(x);
        return finishBody(x, status, json());
    }
    return answerContent(x, status, &d);
}

PendingReply RequestHandler::answerScriptedError(Exchange &x, const Directive &d)
{
    const int status = d.status;
    json body;
    if (status == 429) {
        if (d.retryAfterS >= 0)
            appendHeader(x.headers, "Retry-After", QByteArray::number(d.retryAfterS));
        if (d.retryAfterMs >= 0)
            appendHeader(x.headers, "retry-after-ms", QByteArray::number(d.retryAfterMs));
        appendRateLimitHeaders(x);
        body = x.dialect->scriptedRateLimited(d.code);
    } else if (status == 529) {
        body = AnthropicDialect::error("overloaded_error", "Overloaded");
    } else if (status >= 500) {
        body = x.dialect->serverError(d.code);
    } else {
        body = x.dialect->scriptedClientError(d.code);
    }
    return finishBody(x, status, body);
}

std::optional<PendingReply> RequestHandler::answerOrdinaryFault(Exchange &x)
{
    const SimulatorConfig &config = *m_env.config;
    if (config.quotaExhausted) {
        return answerError(x, 429,
                           OpenAiDialect::error("You exceeded your current quota, please check your plan and "
                                                "billing details (simulated)",
                                                "insufficient_quota", "insufficient_quota"));
    }
    double waitMs = 0;
    if (m_limit.isOn() && !m_limit.tryTake(waitMs))
        return answerOwnLimit(x, waitMs);
    // Draw order (for scripted random sources): reset, error, jitter; each only when configured.
    const bool reset = config.resetRate > 0 && m_env.random->uniform() < config.resetRate;
    const bool error = !reset && config.errorRate > 0 && m_env.random->uniform() < config.errorRate;
    x.delayMs = config.latencyMs + jitter();
    if (reset)
        return finish(x, QByteArray(), 0, x.delayMs);
    if (error)
        return finishBody(x, 500, x.dialect->serverError({}));
    return std::nullopt;
}

PendingReply RequestHandler::answerOwnLimit(Exchange &x, double waitMs)
{
    const qint64 ms = std::max<qint64>(1, qint64(std::ceil(waitMs)));
    appendHeader(x.headers, "Retry-After", QByteArray::number(std::max<qint64>(1, (ms + 999) / 1000)));
    appendHeader(x.headers, "retry-after-ms", QByteArray::number(ms));
    appendRateLimitHeaders(x);
    return answerError(x, 429, x.dialect->ownRateLimited(ms));
}

PendingReply RequestHandler::answerContent(Exchange &x, int status, const Directive *directive)
{
    appendRateLimitHeaders(x);
    const ReplyContent content =
        ReplyContent::compose(x.body, *x.prompt, *m_env.config, m_defaultModel, m_nextReplyId++);
    // A directive that breaks the body on the wire gets a whole body to break, even when streaming.
    if (isTrue(x.body, "stream") && !(directive && directive->breaksBody()))
        return answerStream(x, status, content, directive);
    return finishBody(x, status, x.dialect->replyBody(content));
}

PendingReply RequestHandler::answerStream(Exchange &x, int status, const ReplyContent &content,
                                          const Directive *directive)
{
    const SimulatorConfig &config = *m_env.config;
    auto plan = std::make_unique<StreamPlan>();
    plan->chunked = !x.request.http10;
    plan->head = sseResponseHead(status, x.headers, plan->chunked, !x.request.keepAlive);
    x.dialect->fillStream(*plan, content, includesUsage(x.body));
    plan->firstTokenMs = std::max(0, config.firstTokenMs);
    plan->chunkIntervalMs = std::max(0, config.chunkIntervalMs);
    if (directive) {
        const auto deltas = qint64(plan->deltas.size());
        const auto place = [deltas](qint64 after) {
            return after < 0 ? after : std::min(after, deltas);
        };
        plan->cutAfter = place(directive->cutAfter);
        plan->errorAfter = place(directive->errorAfter);
        plan->stallAfter = place(directive->stallAfter);
        plan->stallMs = double(directive->stallMs);
    }
    record(x, status);
    PendingReply reply;
    reply.stream = std::move(plan);
    reply.status = status;
    reply.delivery = Delivery::Stream;
    reply.delayMs = x.delayMs;
    reply.closeAfter = !x.request.keepAlive;
    return reply;
}

PendingReply RequestHandler::finishBody(Exchange &x, int status, const json &body)
{
    const QByteArray bytes = x.garbage ? QByteArray(kGarbageBody) : dumpJson(body);
    return finish(x, httpResponse(status, bytes, x.headers, !x.request.keepAlive), status, x.delayMs);
}

PendingReply RequestHandler::finish(Exchange &x, QByteArray bytes, int status, double delayMs)
{
    if (x.isHead && status > 0)
        bytes.truncate(bytes.indexOf("\r\n\r\n") + 4); // same headers, no body
    record(x, status);
    PendingReply reply;
    reply.bytes = std::move(bytes);
    reply.status = status;
    reply.delivery = status == 0 ? Delivery::Reset : status < 0 ? Delivery::Hang : x.delivery;
    reply.broken = x.garbage;
    reply.dripMs = x.dripMs;
    reply.delayMs = delayMs;
    reply.closeAfter = !x.request.keepAlive;
    return reply;
}

void RequestHandler::record(Exchange &x, int status)
{
    if (!*m_env.recording)
        return;
    x.record.status = status;
    m_env.received->append(x.record);
}

void RequestHandler::appendRateLimitHeaders(Exchange &x) const
{
    if (m_limit.isOn() && m_env.config->rateLimitHeaders)
        x.dialect->appendRateLimitHeaders(x.headers, m_limit.state());
}

double RequestHandler::jitter()
{
    const int jitterMs = m_env.config->jitterMs;
    return jitterMs > 0 ? m_env.random->uniform() * jitterMs : 0.0;
}

} // namespace Sluice::Sim
