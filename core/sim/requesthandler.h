#pragma once

#include "sim/anthropicdialect.h"
#include "sim/faultscript.h"
#include "sim/openaidialect.h"
#include "sim/ownratelimit.h"
#include "sim/pendingreply.h"
#include "sim/router.h"
#include "sim/simulator.h"

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>

namespace Sluice {
class Clock;
class RandomSource;
} // namespace Sluice

namespace Sluice::Sim {

class ReplyContent;
struct Directive;
struct HttpRequest;

/// Decides the answer to one complete request: route, key check, body and prompt, then either the
/// scripted directive (which, while its `times` lasts, decides everything) or the own rate limit, the
/// random reset/error draws and the normal (possibly streamed) reply. Returns the reply with the delay
/// it must wait; the Connection puts it on the wire. Counts `requests` and records received requests.
/// Lives on the simulator's thread.
class RequestHandler
{
public:
    /// The simulator's state this handler reads and updates; everything outlives the handler.
    struct Env
    {
        const SimulatorConfig *config = nullptr;
        Simulator::Stats *stats = nullptr;
        const bool *recording = nullptr;
        QList<Simulator::Received> *received = nullptr;
        RandomSource *random = nullptr;
        const Clock *clock = nullptr;
    };

    explicit RequestHandler(Env env);
    ~RequestHandler();

    /// Takes over a changed configuration (limit, key, default model).
    void configure();
    PendingReply handle(const HttpRequest &request);

private:
    struct Exchange;

    PendingReply answerHealth(Exchange &x);
    PendingReply answerNotFound(Exchange &x);
    PendingReply answerError(Exchange &x, int status, const nlohmann::json &body);
    bool isAuthorized(const Exchange &x) const;
    std::optional<PendingReply> readBody(Exchange &x);
    PendingReply answerScripted(Exchange &x, const Directive &directive);
    PendingReply answerScriptedError(Exchange &x, const Directive &directive);
    std::optional<PendingReply> answerOrdinaryFault(Exchange &x);
    PendingReply answerOwnLimit(Exchange &x, double waitMs);
    PendingReply answerContent(Exchange &x, int status, const Directive *directive);
    PendingReply answerStream(Exchange &x, int status, const ReplyContent &content,
                              const Directive *directive);
    /// A whole response with this body (the HTML garbage instead when the directive asked for it).
    PendingReply finishBody(Exchange &x, int status, const nlohmann::json &body);
    PendingReply finish(Exchange &x, QByteArray bytes, int status, double delayMs);
    void record(Exchange &x, int status);
    void appendRateLimitHeaders(Exchange &x) const;
    double jitter();

    Env m_env;
    OpenAiDialect m_openAi;
    AnthropicDialect m_anthropic;
    Router m_router;
    OwnRateLimit m_limit;
    FaultScript m_faults;
    QByteArray m_requiredKey;
    QByteArray m_requiredBearer;
    std::string m_defaultModel;
    qint64 m_nextReplyId = 1;
};

} // namespace Sluice::Sim
