// StreamAssembler and StreamReader: a streamed reply assembled into the reply the same call returns
// unstreamed (checked against the simulator's own two forms of one reply), how a stream ends, what a
// failed stream reports, and the timing of content events.

#include "net/provideradapter.h"
#include "net/sseparser.h"
#include "net/streamassembler.h"
#include "net/streamreader.h"
#include "net/streamrelay.h"
#include "sim/anthropicdialect.h"
#include "sim/openaidialect.h"
#include "sim/prompt.h"
#include "sim/replycontent.h"
#include "sim/simulatorconfig.h"
#include "sim/streamplan.h"

#include <QTest>

using namespace Sluice;
using json = nlohmann::json;
using Kind = StreamAssembler::Kind;

namespace {

json requestBody(bool tools)
{
    json body = {{"model", "m-1"},
                 {"messages", {{{"role", "user"}, {"content", "What is the weather in Paris?"}}}}};
    if (tools) {
        body["tools"] = {{{"type", "function"},
                          {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}}};
    }
    return body;
}

/// The simulator's streamed events and unstreamed body of one reply.
struct SimReply
{
    QByteArray events;
    json unstreamed;
    QByteArray errorEvent;
};

SimReply simReply(Provider dialect, bool tools, int chunks, bool includeUsage = true)
{
    const json body = requestBody(tools);
    const auto prompt = Sim::Prompt::read(body);
    SimulatorConfig config;
    config.chunksPerReply = chunks;
    const Sim::ReplyContent content = Sim::ReplyContent::compose(body, *prompt, config, "sim", 7);
    Sim::StreamPlan plan;
    SimReply r;
    if (dialect == Provider::Anthropic) {
        Sim::AnthropicDialect d;
        d.fillStream(plan, content, includeUsage);
        r.unstreamed = d.replyBody(content);
    } else {
        Sim::OpenAiDialect d;
        d.fillStream(plan, content, includeUsage);
        r.unstreamed = d.replyBody(content);
    }
    for (const auto *part : {&plan.opening, &plan.deltas, &plan.closing}) {
        for (const QByteArray &event : *part) {
            r.events += event;
        }
    }
    r.errorEvent = plan.errorEvent;
    return r;
}

std::vector<Kind> feed(StreamAssembler &assembler, const QByteArray &bytes)
{
    SseParser parser;
    std::vector<SseParser::Event> events;
    parser.feed(bytes, events);
    std::vector<Kind> kinds;
    for (const SseParser::Event &e : events) {
        kinds.push_back(assembler.take(e));
    }
    return kinds;
}

json parsed(const QByteArray &text)
{
    return json::parse(text.toStdString(), nullptr, false);
}

} // namespace

class tst_StreamAssembler : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void assemblesTheUnstreamedReply_data();
    void assemblesTheUnstreamedReply();
    void keepsUsageAsReported();
    void keyOrderIsTheServers();
    void parallelToolCallsAndChoices();
    void anthropicBlocks();
    void eventKinds();
    void endings_data();
    void endings();
    void readerTimesContentEvents();
    void readerCompleteStream();
    void readerFailedStreamKeepsReportedUsage();
    void readerErrorEventReadsTheApiError();
    void readerHoldsRelayUntilContent();
    void relayCommitsOnTake();
};

void tst_StreamAssembler::assemblesTheUnstreamedReply_data()
{
    QTest::addColumn<int>("dialect");
    QTest::addColumn<bool>("tools");
    QTest::addColumn<int>("chunks");
    for (const int chunks : {0, 1, 7}) {
        QTest::addRow("openai text %d", chunks) << int(Provider::OpenAI) << false << chunks;
        QTest::addRow("openai tool call %d", chunks) << int(Provider::OpenAI) << true << chunks;
        QTest::addRow("anthropic text %d", chunks) << int(Provider::Anthropic) << false << chunks;
        QTest::addRow("anthropic tool use %d", chunks) << int(Provider::Anthropic) << true << chunks;
    }
}

void tst_StreamAssembler::assemblesTheUnstreamedReply()
{
    QFETCH(int, dialect);
    QFETCH(bool, tools);
    QFETCH(int, chunks);
    const SimReply sim = simReply(Provider(dialect), tools, chunks);
    StreamAssembler assembler{Provider(dialect)};
    feed(assembler, sim.events);
    QVERIFY(assembler.isDone());
    QVERIFY(!assembler.hasError());
    QVERIFY(!assembler.isInvalid());
    json assembled = parsed(assembler.body());
    json expected = sim.unstreamed;
    assembled.erase("created"); // seconds since the epoch, taken separately by the two forms
    expected.erase("created");
    QCOMPARE(QString::fromStdString(assembled.dump()), QString::fromStdString(expected.dump()));
    // Usage is read from the assembled body by the code that reads unstreamed replies.
    const auto usage = ProviderAdapter::scanReply(assembler.body(), Provider(dialect));
    QVERIFY(usage);
    QCOMPARE(usage->inputTokens, ProviderAdapter::usage(sim.unstreamed, Provider(dialect)).inputTokens);
    QCOMPARE(usage->outputTokens, ProviderAdapter::usage(sim.unstreamed, Provider(dialect)).outputTokens);
    QVERIFY(usage->outputTokens > 0);
}

void tst_StreamAssembler::keepsUsageAsReported()
{
    StreamAssembler openai{Provider::OpenAI};
    feed(openai,
         "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"m\","
         "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"hi\"},"
         "\"finish_reason\":null}],\"usage\":null}\n\n"
         "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
         "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":7,"
         "\"total_tokens\":107,\"prompt_tokens_details\":{\"cached_tokens\":64},"
         "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\ndata: [DONE]\n\n");
    QVERIFY(openai.isDone());
    const json body = parsed(openai.body());
    QCOMPARE(body["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>(), 64);
    QCOMPARE(body["usage"]["completion_tokens_details"]["reasoning_tokens"].get<int>(), 0);
    QCOMPARE(body["choices"][0]["message"]["content"].get<std::string>(), std::string("hi"));
    QCOMPARE(body["choices"][0]["finish_reason"].get<std::string>(), std::string("stop"));

    StreamAssembler anthropic{Provider::Anthropic};
    feed(anthropic,
         "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":"
         "\"message\",\"role\":\"assistant\",\"model\":\"c\",\"content\":[],\"stop_reason\":null,"
         "\"stop_sequence\":null,\"usage\":{\"input_tokens\":20,\"cache_creation_input_tokens\":3,"
         "\"cache_read_input_tokens\":900,\"output_tokens\":1}}}\n\n"
         "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
         "\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\n\n"
         "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    QVERIFY(anthropic.isDone());
    const json message = parsed(anthropic.body());
    QCOMPARE(message["usage"]["cache_read_input_tokens"].get<int>(), 900);
    QCOMPARE(message["usage"]["cache_creation_input_tokens"].get<int>(), 3);
    QCOMPARE(message["usage"]["output_tokens"].get<int>(), 42); // message_delta's count wins
    QCOMPARE(message["usage"]["input_tokens"].get<int>(), 20);
    QCOMPARE(message["stop_reason"].get<std::string>(), std::string("end_turn"));
}

void tst_StreamAssembler::keyOrderIsTheServers()
{
    StreamAssembler anthropic{Provider::Anthropic};
    feed(anthropic, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\","
                    "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"c\",\"content\":[],"
                    "\"stop_reason\":null,\"usage\":{\"input_tokens\":1}}}\n\n"
                    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    QCOMPARE(anthropic.body(),
             QByteArray("{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":"
                        "\"c\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":1}}"));
}

void tst_StreamAssembler::parallelToolCallsAndChoices()
{
    StreamAssembler a{Provider::OpenAI};
    feed(a,
         "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,"
         "\"tool_calls\":[{\"index\":0,\"id\":\"c0\",\"type\":\"function\",\"function\":{\"name\":\"f\","
         "\"arguments\":\"\"}},{\"index\":1,\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"g\","
         "\"arguments\":\"\"}}]}}]}\n\n"
         "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":"
         "{\"arguments\":\"{\\\"b\\\":\"}}]}}]}\n\n"
         "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
         "{\"arguments\":\"{\\\"a\\\":1}\"}}]}}]}\n\n"
         "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":"
         "{\"arguments\":\"2}\"}}]}}]}\n\n"
         "data: {\"choices\":[{\"index\":1,\"delta\":{\"role\":\"assistant\",\"content\":\"second\"}}]}\n\n"
         "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"},"
         "{\"index\":1,\"delta\":{},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n");
    QVERIFY(a.isDone());
    const json body = parsed(a.body());
    const json &calls = body["choices"][0]["message"]["tool_calls"];
    QCOMPARE(int(calls.size()), 2);
    QCOMPARE(calls[0]["id"].get<std::string>(), std::string("c0"));
    QCOMPARE(calls[0]["function"]["arguments"].get<std::string>(), std::string("{\"a\":1}"));
    QCOMPARE(calls[1]["function"]["name"].get<std::string>(), std::string("g"));
    QCOMPARE(calls[1]["function"]["arguments"].get<std::string>(), std::string("{\"b\":2}"));
    QVERIFY(body["choices"][0]["message"]["content"].is_null());
    QCOMPARE(body["choices"][0]["finish_reason"].get<std::string>(), std::string("tool_calls"));
    QCOMPARE(body["choices"][1]["message"]["content"].get<std::string>(), std::string("second"));
    QCOMPARE(body["choices"][1]["finish_reason"].get<std::string>(), std::string("length"));
    QVERIFY(!body.contains("usage")); // none reported (no include_usage)
    QCOMPARE(a.contentEvents(), 4);
}

void tst_StreamAssembler::anthropicBlocks()
{
    StreamAssembler a{Provider::Anthropic};
    feed(a,
         "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[],"
         "\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
         "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
         "{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n"
         "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
         "{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\n"
         "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
         "{\"type\":\"signature_delta\",\"signature\":\"sig\"}}\n\n"
         "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
         "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":"
         "{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"f\",\"input\":{}}}\n\n"
         "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
         "event: future_event\ndata: {\"type\":\"future_event\"}\n\n"
         "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    QVERIFY(a.isDone());
    const json m = parsed(a.body());
    QCOMPARE(m["content"][0]["thinking"].get<std::string>(), std::string("hmm"));
    QCOMPARE(m["content"][0]["signature"].get<std::string>(), std::string("sig"));
    QVERIFY(m["content"][1]["input"] == json::object()); // a tool with no arguments
}

void tst_StreamAssembler::eventKinds()
{
    const SimReply openai = simReply(Provider::OpenAI, false, 2);
    StreamAssembler a{Provider::OpenAI};
    const std::vector<Kind> kinds = feed(a, openai.events);
    const std::vector<Kind> expected = {Kind::Opening, Kind::Content, Kind::Content,
                                        Kind::Closing, Kind::Closing, Kind::Done};
    QCOMPARE(kinds, expected);

    const SimReply anthropic = simReply(Provider::Anthropic, true, 2);
    StreamAssembler b{Provider::Anthropic};
    const std::vector<Kind> bKinds = feed(b, anthropic.events);
    const std::vector<Kind> bExpected = {Kind::Opening, Kind::Opening, Kind::Ping,    Kind::Content,
                                         Kind::Content, Kind::Closing, Kind::Closing, Kind::Done};
    QCOMPARE(bKinds, bExpected);
}

void tst_StreamAssembler::endings_data()
{
    QTest::addColumn<int>("dialect");
    QTest::addColumn<QByteArray>("events");
    QTest::addColumn<QString>("ending");
    const SimReply openai = simReply(Provider::OpenAI, false, 4);
    const SimReply anthropic = simReply(Provider::Anthropic, true, 4);
    const auto firstEvents = [](const QByteArray &all, int n) {
        qsizetype at = 0;
        for (int i = 0; i < n; ++i) {
            at = all.indexOf("\n\n", at) + 2;
        }
        return all.first(at);
    };
    QTest::newRow("openai complete") << int(Provider::OpenAI) << openai.events << "done";
    QTest::newRow("openai cut") << int(Provider::OpenAI) << firstEvents(openai.events, 3) << "open";
    QTest::newRow("openai cut before [DONE]")
        << int(Provider::OpenAI) << firstEvents(openai.events, 7) << "open";
    QTest::newRow("openai error event")
        << int(Provider::OpenAI) << firstEvents(openai.events, 2) + openai.errorEvent << "error";
    QTest::newRow("openai named error")
        << int(Provider::OpenAI) << QByteArray("event: error\ndata: {\"message\":\"x\"}\n\n") << "error";
    QTest::newRow("openai not json") << int(Provider::OpenAI) << QByteArray("data: {oops\n\n") << "invalid";
    QTest::newRow("anthropic complete") << int(Provider::Anthropic) << anthropic.events << "done";
    QTest::newRow("anthropic cut") << int(Provider::Anthropic) << firstEvents(anthropic.events, 5) << "open";
    QTest::newRow("anthropic error event")
        << int(Provider::Anthropic) << firstEvents(anthropic.events, 4) + anthropic.errorEvent << "error";
    QTest::newRow("anthropic delta before start")
        << int(Provider::Anthropic)
        << QByteArray("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n"
                      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":3,"
                      "\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n")
        << "invalid";
    QTest::newRow("anthropic content before message_start")
        << int(Provider::Anthropic)
        << QByteArray("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
                      "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
        << "invalid";
    QTest::newRow("anthropic tool input not json")
        << int(Provider::Anthropic)
        << QByteArray(
               "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n"
               "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
               "\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n"
               "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
               "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n"
               "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
        << "invalid";
    QTest::newRow("nothing after the end counts")
        << int(Provider::OpenAI) << QByteArray("data: [DONE]\n\ndata: {oops\n\n") << "done";
}

void tst_StreamAssembler::endings()
{
    QFETCH(int, dialect);
    QFETCH(QByteArray, events);
    QFETCH(QString, ending);
    StreamAssembler a{Provider(dialect)};
    feed(a, events);
    const QString actual = a.isDone()      ? QStringLiteral("done")
                           : a.hasError()  ? QStringLiteral("error")
                           : a.isInvalid() ? QStringLiteral("invalid")
                                           : QStringLiteral("open");
    QCOMPARE(actual, ending);
    if (a.hasError()) {
        QVERIFY(a.errorBody().contains("error"));
    }
}

void tst_StreamAssembler::readerTimesContentEvents()
{
    const SimReply sim = simReply(Provider::OpenAI, false, 3);
    // The events arrive in pieces: the opening at 40 ms, two deltas at 100 ms, one at 130, the rest at 150.
    const qsizetype afterOpening = sim.events.indexOf("\n\n") + 2;
    const qsizetype afterTwo = sim.events.indexOf("\n\n", sim.events.indexOf("\n\n", afterOpening) + 2) + 2;
    const qsizetype afterThree = sim.events.indexOf("\n\n", afterTwo) + 2;
    StreamReader reader(Provider::OpenAI, nullptr, 1000.0, 0);
    reader.read(QByteArrayView(sim.events).first(afterOpening), 1040.0);
    reader.read(QByteArrayView(sim.events).sliced(afterOpening, afterTwo - afterOpening), 1100.0);
    reader.read(QByteArrayView(sim.events).sliced(afterTwo, afterThree - afterTwo - 5),
                1120.0); // a partial event
    reader.read(QByteArrayView(sim.events).sliced(afterThree - 5, 5), 1130.0);
    reader.read(QByteArrayView(sim.events).sliced(afterThree), 1150.0);
    AttemptResult result;
    result.report.httpStatus = 200;
    QVERIFY(reader.finish(result, false));
    QVERIFY(result.stream.streamed);
    QCOMPARE(result.stream.ttftMs, 100.0); // the first content event, not the opening one
    QCOMPARE(result.stream.lastContentMs, 130.0);
    QCOMPARE(result.stream.contentEvents, 3);
    QCOMPARE(result.stream.gapsMs, (std::vector<float>{0.0f, 30.0f}));
    QCOMPARE(result.stream.outputTokensPerS(4), 3 * 1000.0 / 30.0);
    QCOMPARE(result.stream.outputTokensPerS(1), -1.0);
}

void tst_StreamAssembler::readerCompleteStream()
{
    const SimReply sim = simReply(Provider::Anthropic, true, 3);
    StreamReader reader(Provider::Anthropic, nullptr, 0, 0);
    reader.read(sim.events, 10);
    AttemptResult result;
    result.report.httpStatus = 200;
    QVERIFY(reader.finish(result, false));
    QCOMPARE(int(result.report.streamFailure), int(StreamFailure::None));
    QVERIFY(result.report.bodyIsJson);
    QVERIFY(result.report.bodyComplete);
    QCOMPARE(parsed(result.bodyText)["stop_reason"].get<std::string>(), std::string("tool_use"));
    QCOMPARE(result.usage.outputTokens,
             ProviderAdapter::usage(sim.unstreamed, Provider::Anthropic).outputTokens);
    QCOMPARE(toString(Classifier::classify(result.report).cls), QStringLiteral("none"));
}

void tst_StreamAssembler::readerFailedStreamKeepsReportedUsage()
{
    // Cut after message_start and two deltas: the input tokens message_start reported are spent.
    const SimReply sim = simReply(Provider::Anthropic, false, 4);
    qsizetype at = 0;
    for (int i = 0; i < 5; ++i) {
        at = sim.events.indexOf("\n\n", at) + 2;
    }
    StreamReader reader(Provider::Anthropic, nullptr, 0, 0);
    reader.read(sim.events.first(at), 10);
    AttemptResult result;
    result.report.httpStatus = 200;
    QVERIFY(!reader.finish(result, false));
    QCOMPARE(int(result.report.streamFailure), int(StreamFailure::Cut));
    QCOMPARE(result.report.streamChunks, 2);
    QVERIFY(result.bodyText.isEmpty()); // never a partial reply
    QCOMPARE(result.usage.inputTokens,
             ProviderAdapter::usage(sim.unstreamed, Provider::Anthropic).inputTokens);
    const Outcome outcome = Classifier::classify(result.report);
    QCOMPARE(toString(outcome.cls), QStringLiteral("transport"));
    QVERIFY(outcome.retryable);
    QVERIFY2(outcome.message.contains(QLatin1String("after 2 content events")), qPrintable(outcome.message));

    // A stall is a timeout; so is one before any event.
    StreamReader stalled(Provider::OpenAI, nullptr, 0, 0);
    AttemptResult s;
    s.report.httpStatus = 200;
    s.report.stallMs = 30000;
    QVERIFY(!stalled.finish(s, true));
    QCOMPARE(toString(Classifier::classify(s.report).cls), QStringLiteral("timeout"));
    QVERIFY(Classifier::classify(s.report).message.contains(QLatin1String("stalled")));
}

void tst_StreamAssembler::readerErrorEventReadsTheApiError()
{
    for (const Provider dialect : {Provider::OpenAI, Provider::Anthropic}) {
        const SimReply sim = simReply(dialect, false, 4);
        const qsizetype at = sim.events.indexOf("\n\n") + 2;
        StreamReader reader(dialect, nullptr, 0, 0);
        reader.read(QByteArray(sim.events.first(at) + sim.errorEvent), 10);
        AttemptResult result;
        result.report.httpStatus = 200;
        QVERIFY(!reader.finish(result, false));
        QCOMPARE(int(result.report.streamFailure), int(StreamFailure::ErrorEvent));
        QVERIFY(result.body.contains("error"));
        const Outcome outcome = Classifier::classify(result.report);
        // The simulator's events: OpenAI server_error, Anthropic overloaded_error; both retried.
        QCOMPARE(toString(outcome.cls),
                 dialect == Provider::Anthropic ? QStringLiteral("overloaded") : QStringLiteral("server"));
        QVERIFY(outcome.retryable);
    }
    AttemptReport invalidRequest;
    invalidRequest.httpStatus = 200;
    invalidRequest.streamFailure = StreamFailure::ErrorEvent;
    invalidRequest.apiErrorType = QStringLiteral("invalid_request_error");
    QCOMPARE(toString(Classifier::classify(invalidRequest).cls), QStringLiteral("client"));
    QVERIFY(!Classifier::classify(invalidRequest).retryable);
}

void tst_StreamAssembler::readerHoldsRelayUntilContent()
{
    int notified = 0;
    auto relay = std::make_shared<StreamRelay>(Provider::OpenAI, true, [&notified] { ++notified; });
    const SimReply sim = simReply(Provider::OpenAI, false, 2);
    const qsizetype afterOpening = sim.events.indexOf("\n\n") + 2;
    StreamReader reader(Provider::OpenAI, relay, 0, 0);
    relay->beginAttempt(3);
    relay->setRequestId(QStringLiteral("req-1"));
    reader.read(sim.events.first(afterOpening), 10);
    QCOMPARE(notified, 0); // the role chunk alone: held back
    QVERIFY(relay->take().bytes.isEmpty());
    QVERIFY(!relay->isCommitted());
    reader.read(sim.events.sliced(afterOpening), 20);
    QCOMPARE(notified, 1);
    const StreamRelay::Taken taken = relay->take();
    QVERIFY(taken.first);
    QCOMPARE(taken.endpoint, 3);
    QCOMPARE(taken.requestId, QStringLiteral("req-1"));
    QVERIFY(taken.bytes.startsWith(sim.events.first(afterOpening))); // held events first
    QVERIFY(taken.bytes.endsWith("data: [DONE]\n\n"));
    AttemptResult result;
    result.report.httpStatus = 200;
    QVERIFY(reader.finish(result, false));
}

void tst_StreamAssembler::relayCommitsOnTake()
{
    int notified = 0;
    StreamRelay relay(Provider::Anthropic, false, [&notified] { ++notified; });
    relay.beginAttempt(0);
    relay.push("a");
    relay.push("b");
    QCOMPARE(notified, 1);                 // once per batch
    QVERIFY(!relay.endAttempt(true));      // nothing taken: the caller saw nothing, a retry may go
    QVERIFY(relay.take().bytes.isEmpty()); // the failed attempt's bytes are gone
    relay.beginAttempt(1);
    relay.push("c");
    QCOMPARE(notified, 2);
    const StreamRelay::Taken t = relay.take();
    QCOMPARE(t.bytes, QByteArray("c"));
    QVERIFY(t.first);
    QCOMPARE(t.endpoint, 1);
    relay.push("d");
    QVERIFY(relay.endAttempt(true));               // committed: no retry
    QCOMPARE(relay.take().bytes, QByteArray("d")); // kept for the caller
    relay.detach();
    relay.push("e");
    QVERIFY(relay.take().bytes.isEmpty());
    QCOMPARE(notified, 3);
}

QTEST_GUILESS_MAIN(tst_StreamAssembler)
#include "tst_streamassembler.moc"
