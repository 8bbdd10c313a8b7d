#include "clioptions.h"

#include <QCommandLineParser>
#include <QFileInfo>

#include <cmath>

namespace Sluice::Cli {

namespace {

Error usage(const QString &message)
{
    return Error{Error::Code::InvalidConfig, message, 0};
}

std::optional<double> number(const QCommandLineParser &p, const QString &name, double min, double max,
                             Error *error)
{
    if (!p.isSet(name)) {
        return std::nullopt;
    }
    bool ok = false;
    const QString text = p.value(name);
    const double v = text.toDouble(&ok);
    if (!ok || !std::isfinite(v) || v < min || v > max) {
        *error = usage(
            QStringLiteral("--%1: \"%2\" is not a number in [%3, %4]").arg(name, text).arg(min).arg(max));
        return std::nullopt;
    }
    return v;
}

const char *Description = R"(Push a JSONL batch of LLM API requests through rate-limited, weighted endpoints.

Commands:
  run        Send every line of --requests; write one record per line to --out or --errors.
  simulate   Run the built-in LLM simulator server on its own (for rehearsals and tests).
  serve      Run the gateway: a local OpenAI/Anthropic-compatible server that queues callers FIFO
             behind the same limiter, balancer and retries (POST /v1/chat/completions, /v1/messages,
             /api/v1/completions; GET /health, /status, /metrics). Ctrl-C stops it.

Input lines (auto-detected per line): OpenAI Batch {"custom_id","method","url","body"},
Anthropic batch {"custom_id","params"}, bare chat bodies {"model","messages",...,"metadata"},
prompts {"input":"text"}. Lines without custom_id are named "line-N".

Exit status: 0 every line succeeded; 1 some lines ended in the errors file;
2 usage or configuration error; 3 stopped at the cost budget (--max-cost, limits.max_cost_usd): the
lines not sent have no record, --resume with a larger --max-cost sends them;
130 stopped by SIGINT/SIGTERM before the end.

Examples:
  sluice-cli run --simulate --requests resources/examples/demo.jsonl --out results.jsonl
  sluice-cli run --project project.json --requests batch.jsonl --out results.jsonl --summary summary.json
  sluice-cli run --endpoint http://127.0.0.1:8000/v1/chat/completions --model gpt-4o-mini \
                 --requests_filepath batch.jsonl --save_filepath save.jsonl --max_requests_per_second 50
  sluice-cli simulate --port 8001 --latency-ms 200 --rps 50 --error-rate 0.05
  sluice-cli simulate --port 8001 --first-token-ms 200 --chunk-interval-ms 20 --chunks-per-reply 50
  sluice-cli serve --project project.json --port 8080 --max-queue 5000 --default-timeout 120)";

template<typename Num>
Result<CliOptions> loadEndpoints(const QCommandLineParser &p, CliOptions &o, Error &error, const Num &num)
{
    if (p.isSet(QStringLiteral("project"))) {
        auto loaded = ProjectConfig::load(p.value(QStringLiteral("project")));
        if (!loaded) {
            return loaded.error();
        }
        o.project = std::move(loaded).value();
    }
    const QStringList urls = p.values(QStringLiteral("endpoint"));
    for (const QString &text : urls) {
        const QUrl url(text, QUrl::StrictMode);
        if (!EndpointConfig::isEndpointUrl(url)) {
            return usage(
                QStringLiteral("--endpoint: \"%1\" is not an http:// or https:// URL with a host").arg(text));
        }
        EndpointConfig e = EndpointConfig::fromUrl(url, int(o.project.endpoints.size()));
        e.apiKeyEnv = p.value(QStringLiteral("api-key-env"));
        o.project.endpoints.append(e);
    }
    if (const auto rps = num("rps", Bounds::GlobalRps.min, Bounds::GlobalRps.max)) {
        o.project.limits.rps = *rps;
    }
    if (const auto attempts = num("max-attempts", Bounds::MaxAttempts.min, Bounds::MaxAttempts.max)) {
        o.project.limits.retry.maxAttempts = int(*attempts);
    }
    o.stream = p.isSet(QStringLiteral("stream"));
    o.stallTimeoutS = num("stall-timeout", Bounds::TimeoutS.min, Bounds::TimeoutS.max);
    o.applyStreamOptions();
    if (const auto budget = num("max-cost", Bounds::CostUsd.min, Bounds::CostUsd.max)) {
        o.project.limits.maxCostUsd = *budget;
    }
    if (!error.message.isEmpty()) {
        return error;
    }
    if (o.project.endpoints.isEmpty() && !o.simulate) {
        return usage(
            o.command == CliOptions::Command::Serve
                ? QStringLiteral("serve: no endpoints: give --project FILE or --endpoint URL")
                : QStringLiteral("run: no endpoints: give --project FILE, --endpoint URL or --simulate"));
    }
    return std::move(o);
}

} // namespace

void CliOptions::applyStreamOptions()
{
    for (EndpointConfig &e : project.endpoints) {
        e.stream = e.stream || stream;
        e.stallTimeoutS = stallTimeoutS.value_or(e.stallTimeoutS);
    }
}

Result<CliOptions> parseArguments(const QStringList &arguments)
{
    QCommandLineParser p;
    p.setApplicationDescription(QString::fromUtf8(Description));
    p.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
    const QCommandLineOption help(QStringList{QStringLiteral("h"), QStringLiteral("help")},
                                  QStringLiteral("Show this help."));
    const QCommandLineOption version(QStringList{QStringLiteral("v"), QStringLiteral("version")},
                                     QStringLiteral("Show the version."));
    p.addOption(help);
    p.addOption(version);
    p.addPositionalArgument(QStringLiteral("command"), QStringLiteral("run | simulate | serve"));

    const auto opt = [&p](QStringList names, const QString &text, const QString &value = QString()) {
        p.addOption(QCommandLineOption(names, text, value));
    };
    // run
    opt({QStringLiteral("requests"), QStringLiteral("requests_filepath")},
        QStringLiteral("[run] Input JSONL file."), QStringLiteral("file"));
    opt({QStringLiteral("project")},
        QStringLiteral("[run] Project JSON: endpoints and limits (README \"Project file\")."),
        QStringLiteral("file"));
    opt({QStringLiteral("out"), QStringLiteral("save_filepath")},
        QStringLiteral("[run] Results JSONL, one line per success. A new run replaces it, unless it holds "
                       "an unfinished run (see --resume). Progress is journaled in FILE.journal."),
        QStringLiteral("file"));
    opt({QStringLiteral("errors")},
        QStringLiteral("[run] Errors JSONL, one line per failed line (default: errors.jsonl beside --out)."),
        QStringLiteral("file"));
    opt({QStringLiteral("summary")}, QStringLiteral("[run] Also write the final summary as JSON."),
        QStringLiteral("file"));
    opt({QStringLiteral("rps"), QStringLiteral("max_requests_per_second")},
        QStringLiteral("[run] Global limit in requests per second (0 = none); overrides limits.rps."),
        QStringLiteral("n"));
    opt({QStringLiteral("max-attempts"), QStringLiteral("max_attempts")},
        QStringLiteral("[run] Sends per request including retries; overrides limits.max_attempts."),
        QStringLiteral("n"));
    opt({QStringLiteral("endpoint")},
        QStringLiteral(
            "[run] Endpoint URL (repeatable; weight 1; provider from the path: .../messages is Anthropic). "
            "Added to the project's endpoints, or used alone without --project."),
        QStringLiteral("url"));
    opt({QStringLiteral("stream")},
        QStringLiteral(
            "[run, serve] Ask every endpoint for streamed (SSE) replies (an endpoint's \"stream\": "
            "true in the project does it for one); a request's own \"stream\" wins. Results "
            "are the same lines, with ttft_ms and output_tokens_per_s."));
    opt({QStringLiteral("stall-timeout")},
        QStringLiteral("[run, serve] A streamed reply that sends nothing for this many seconds fails and is "
                       "retried (default 30; the endpoints' stall_timeout_s)."),
        QStringLiteral("s"));
    opt({QStringLiteral("model")},
        QStringLiteral("[run] Model for lines that name none (before the endpoint's \"model\")."),
        QStringLiteral("name"));
    opt({QStringLiteral("api-key-env")},
        QStringLiteral("[run] Environment variable with the key for --endpoint endpoints."),
        QStringLiteral("var"));
    opt({QStringLiteral("simulate")},
        QStringLiteral(
            "[run] Send to two built-in simulated endpoints instead (no keys, no network). With a "
            "project, each endpoint keeps its weight and limits but points at its own simulator."));
    opt({QStringLiteral("max-line-bytes")},
        QStringLiteral("[run] Longest accepted input line (default 8388608)."), QStringLiteral("n"));
    opt({QStringLiteral("resume")},
        QStringLiteral("[run] Continue the killed or stopped run whose journal is --out.journal: finished "
                       "lines are skipped, the rest (including requests in flight at the crash) are sent. "
                       "Refused when the input file or the project's endpoints/models changed."));
    opt({QStringLiteral("retry-errors")},
        QStringLiteral("[run] Like --resume, and also send again the lines whose records in the errors file "
                       "are request failures (bad input lines stay); successes are appended to --out."));
    opt({QStringLiteral("shard")},
        QStringLiteral("[run] Handle only shard K of N of the input: the lines with (line - 1) % N == K - 1. "
                       "N processes with K = 1..N cover every line exactly once (each with its own --out); "
                       "share their limits with a project \"shared\" block. A resume must name the same "
                       "shard."),
        QStringLiteral("K/N"));
    opt({QStringLiteral("max-cost")},
        QStringLiteral(
            "[run, serve] Budget of this session in USD (overrides limits.max_cost_usd): no request "
            "is sent whose worst case does not fit; at the budget a run stops with exit status 3 "
            "and --resume --max-cost (larger) continues it, while serve keeps running and answers "
            "callers 429 budget_exhausted."),
        QStringLiteral("usd"));
    opt({QStringLiteral("dry-run")},
        QStringLiteral("[run] Print what the run would cost (a range per endpoint and in total) and exit "
                       "without sending anything."));
    opt({QStringLiteral("overwrite")},
        QStringLiteral("[run] Start over even when --out holds an unfinished run."));
    opt({QStringLiteral("quiet"), QStringLiteral("q")}, QStringLiteral("[run] No progress output."));
    opt({QStringLiteral("progress-interval")},
        QStringLiteral("[run] Seconds between progress lines (default: a live bar on a terminal, else 5)."),
        QStringLiteral("s"));
    // simulate, serve
    opt({QStringLiteral("port")},
        QStringLiteral("[simulate, serve] Port to listen on (0 = any free port, printed at start)."),
        QStringLiteral("n"));
    opt({QStringLiteral("bind")},
        QStringLiteral("[serve] Address to listen on (default 127.0.0.1). Beyond loopback, give callers keys "
                       "(the project's gateway.keys) and TLS (--tls-cert, --tls-key)."),
        QStringLiteral("address"));
    opt({QStringLiteral("tls-cert")},
        QStringLiteral("[serve] Serve HTTPS with this PEM certificate (chain); needs --tls-key."),
        QStringLiteral("file"));
    opt({QStringLiteral("tls-key")}, QStringLiteral("[serve] The unencrypted PEM private key of --tls-cert."),
        QStringLiteral("file"));
    opt({QStringLiteral("max-queue")},
        QStringLiteral("[serve] Callers that may wait to be sent (default 10000); beyond it: 429 with "
                       "Retry-After."),
        QStringLiteral("n"));
    opt({QStringLiteral("default-timeout")},
        QStringLiteral("[serve] A caller's deadline in seconds when it sends no X-Sluice-Timeout header "
                       "(default 300); then 504 with Retry-After."),
        QStringLiteral("s"));
    opt({QStringLiteral("latency-ms")}, QStringLiteral("[simulate, run --simulate] Reply delay."),
        QStringLiteral("ms"));
    opt({QStringLiteral("jitter-ms")},
        QStringLiteral("[simulate, run --simulate] Extra random delay up to this."), QStringLiteral("ms"));
    opt({QStringLiteral("sim-rps")},
        QStringLiteral("[simulate, run --simulate] The simulator's own limit (429 above)."),
        QStringLiteral("n"));
    opt({QStringLiteral("burst")},
        QStringLiteral("[simulate, run --simulate] Burst allowance of that limit."), QStringLiteral("n"));
    opt({QStringLiteral("error-rate")},
        QStringLiteral("[simulate, run --simulate] Share of requests answered 500."), QStringLiteral("0..1"));
    opt({QStringLiteral("reset-rate")},
        QStringLiteral("[simulate, run --simulate] Share of connections reset without a reply."),
        QStringLiteral("0..1"));
    opt({QStringLiteral("first-token-ms")},
        QStringLiteral(
            "[simulate, run --simulate] Streamed replies (\"stream\": true): delay from the reply's "
            "head to its first content chunk."),
        QStringLiteral("ms"));
    opt({QStringLiteral("chunk-interval-ms")},
        QStringLiteral("[simulate, run --simulate] Streamed replies: delay between content chunks."),
        QStringLiteral("ms"));
    opt({QStringLiteral("chunks-per-reply")},
        QStringLiteral(
            "[simulate, run --simulate] Streamed replies: content chunks per reply (default: one per "
            "token); replies are lengthened to about one token per chunk, streamed or not."),
        QStringLiteral("n"));
    opt({QStringLiteral("no-rate-headers")},
        QStringLiteral(
            "[simulate, run --simulate] Enforce the limit without announcing it in rate-limit headers."));
    opt({QStringLiteral("rps-schedule")},
        QStringLiteral(
            "[simulate] Change the limit while running, e.g. \"20:50,40:100\" (at 20 s: 50 req/s, ...)."),
        QStringLiteral("t:rps,..."));
    opt({QStringLiteral("history")},
        QStringLiteral(
            "[run] Write the per-second history (issued, finished, overflow, exceptions...) as CSV."),
        QStringLiteral("file"));
    opt({QStringLiteral("require-key-env")},
        QStringLiteral("[simulate] Demand the key held in this environment variable (401 otherwise)."),
        QStringLiteral("var"));

    CliOptions o;
    if (!p.parse(arguments)) {
        return usage(p.errorText() + QStringLiteral(" (see sluice-cli --help)"));
    }
    o.helpText = p.helpText();
    if (p.isSet(version)) {
        o.command = CliOptions::Command::Version;
        return o;
    }
    const QStringList positional = p.positionalArguments();
    if (p.isSet(help) || positional.isEmpty()) {
        o.command = CliOptions::Command::Help;
        return o;
    }
    if (positional.size() > 1) {
        return usage(QStringLiteral("unexpected argument \"%1\"").arg(positional.at(1)));
    }

    Error error;
    const auto num = [&](const char *name, double min, double max) {
        return error.message.isEmpty() ? number(p, QString::fromLatin1(name), min, max, &error)
                                       : std::nullopt;
    };
    // `simulate` takes --rps for its own limit (as documented there); `run` takes --sim-rps.
    const QString command = positional.first();
    o.sim.latencyMs = int(num("latency-ms", 0, 3600000).value_or(command == QLatin1String("run") ? 30 : 0));
    o.sim.jitterMs = int(num("jitter-ms", 0, 3600000).value_or(command == QLatin1String("run") ? 40 : 0));
    o.sim.burst = int(num("burst", 0, 1e6).value_or(0));
    o.sim.errorRate = num("error-rate", 0, 1).value_or(0);
    o.sim.resetRate = num("reset-rate", 0, 1).value_or(0);
    o.sim.rateLimitHeaders = !p.isSet(QStringLiteral("no-rate-headers"));
    o.sim.firstTokenMs = int(num("first-token-ms", 0, 3600000).value_or(0));
    o.sim.chunkIntervalMs = int(num("chunk-interval-ms", 0, 3600000).value_or(0));
    o.sim.chunksPerReply = int(num("chunks-per-reply", 0, 100000).value_or(0));

    if (command == QLatin1String("simulate")) {
        o.command = CliOptions::Command::Simulate;
        o.simPort = quint16(num("port", 0, 65535).value_or(0));
        o.sim.rps = num("rps", 0, 1e9).value_or(num("sim-rps", 0, 1e9).value_or(0));
        const QStringList steps =
            p.value(QStringLiteral("rps-schedule")).split(QLatin1Char(','), Qt::SkipEmptyParts);
        for (const QString &step : steps) {
            const QStringList parts = step.split(QLatin1Char(':'));
            bool okTime = false;
            bool okRate = false;
            const double at = parts.value(0).trimmed().toDouble(&okTime);
            const double rps = parts.value(1).trimmed().toDouble(&okRate);
            if (parts.size() != 2 || !okTime || !okRate || at < 0 || rps < 0) {
                return usage(QStringLiteral("--rps-schedule: \"%1\" is not SECONDS:RPS").arg(step));
            }
            o.rpsSchedule.append({at, rps});
        }
        if (p.isSet(QStringLiteral("require-key-env"))) {
            const QString var = p.value(QStringLiteral("require-key-env"));
            o.sim.requireKey = qEnvironmentVariable(var.toLocal8Bit().constData());
            if (o.sim.requireKey.isEmpty()) {
                return usage(
                    QStringLiteral("--require-key-env: environment variable %1 is not set").arg(var));
            }
        }
        if (!error.message.isEmpty()) {
            return error;
        }
        return o;
    }
    if (command == QLatin1String("serve")) {
        o.command = CliOptions::Command::Serve;
        o.quiet = p.isSet(QStringLiteral("quiet"));
        o.gateway.port = quint16(num("port", 0, 65535).value_or(0));
        o.gateway.maxQueue = int(num("max-queue", 1, 10000000).value_or(o.gateway.maxQueue));
        o.gateway.defaultTimeoutS = num("default-timeout", 0.001, 86400).value_or(o.gateway.defaultTimeoutS);
        o.gateway.maxTimeoutS = std::max(o.gateway.maxTimeoutS, o.gateway.defaultTimeoutS);
        o.gateway.modelOverride = p.value(QStringLiteral("model"));
        o.gateway.tlsCertPath = p.value(QStringLiteral("tls-cert"));
        o.gateway.tlsKeyPath = p.value(QStringLiteral("tls-key"));
        if (o.gateway.tlsCertPath.isEmpty() != o.gateway.tlsKeyPath.isEmpty()) {
            return usage(QStringLiteral("serve: --tls-cert and --tls-key go together"));
        }
        if (p.isSet(QStringLiteral("bind"))) {
            const QString text = p.value(QStringLiteral("bind"));
            if (!o.gateway.address.setAddress(text)) {
                return usage(QStringLiteral("--bind: \"%1\" is not an IP address").arg(text));
            }
        }
        for (const char *runOnly : {"requests", "out", "errors", "resume", "retry-errors", "overwrite",
                                    "summary", "shard", "history", "simulate", "dry-run"}) {
            if (p.isSet(QString::fromLatin1(runOnly))) {
                return usage(QStringLiteral("serve: --%1 is for run only").arg(QString::fromLatin1(runOnly)));
            }
        }
        return loadEndpoints(p, o, error, num);
    }
    if (command != QLatin1String("run")) {
        return usage(QStringLiteral("unknown command \"%1\"; expected run, simulate or serve").arg(command));
    }

    o.command = CliOptions::Command::Run;
    o.sim.rps = num("sim-rps", 0, 1e9).value_or(0);
    o.simulate = p.isSet(QStringLiteral("simulate"));
    o.quiet = p.isSet(QStringLiteral("quiet"));
    o.progressIntervalS = num("progress-interval", 0.05, 86400).value_or(0);
    o.run.requestsPath = p.value(QStringLiteral("requests"));
    o.run.outPath = p.value(QStringLiteral("out"));
    o.run.errorsPath = p.value(QStringLiteral("errors"));
    o.run.modelOverride = p.value(QStringLiteral("model"));
    const bool resume = p.isSet(QStringLiteral("resume"));
    const bool retryErrors = p.isSet(QStringLiteral("retry-errors"));
    o.run.overwrite = p.isSet(QStringLiteral("overwrite"));
    if (o.run.overwrite && (resume || retryErrors)) {
        return usage(QStringLiteral("run: --overwrite starts over; it cannot be combined with --resume or "
                                    "--retry-errors"));
    }
    o.run.mode = retryErrors ? RunOptions::Mode::RetryErrors
                 : resume    ? RunOptions::Mode::Resume
                             : RunOptions::Mode::Fresh;
    if (p.isSet(QStringLiteral("shard"))) {
        const QString text = p.value(QStringLiteral("shard"));
        const QStringList parts = text.split(QLatin1Char('/'));
        bool okK = false;
        bool okN = false;
        const int k = parts.size() == 2 ? parts.at(0).toInt(&okK) : 0;
        const int n = parts.size() == 2 ? parts.at(1).toInt(&okN) : 0;
        if (!okK || !okN || n < 1 || n > 100000 || k < 1 || k > n) {
            return usage(
                QStringLiteral("--shard: \"%1\" is not K/N with 1 <= K <= N (e.g. --shard 2/3)").arg(text));
        }
        o.run.shardIndex = k;
        o.run.shardCount = n;
    }
    o.summaryPath = p.value(QStringLiteral("summary"));
    o.dryRun = p.isSet(QStringLiteral("dry-run"));
    o.historyPath = p.value(QStringLiteral("history"));
    o.run.reader.maxLineBytes =
        qint64(num("max-line-bytes", 1024, 2e9).value_or(double(o.run.reader.maxLineBytes)));
    if (o.run.requestsPath.isEmpty()) {
        return usage(QStringLiteral("run: --requests FILE is required"));
    }
    if (o.run.outPath.isEmpty()) {
        return usage(QStringLiteral("run: --out FILE is required"));
    }

    return loadEndpoints(p, o, error, num);
}

} // namespace Sluice::Cli