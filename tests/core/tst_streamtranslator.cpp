// StreamTranslator: a streamed reply passed to a gateway caller event by event, in the caller's
// dialect. Checked by assembling what the caller gets and comparing it with the whole-reply
// translation of what the upstream sent.

#include "net/dialect.h"
#include "net/sseparser.h"
#include "net/streamassembler.h"
#include "net/streamtranslator.h"
#include "sim/anthropicdialect.h"
#include "sim/openaidialect.h"
#include "sim/prompt.h"
#include "sim/replycontent.h"
#include "sim/simulatorconfig.h"
#include "sim/streamplan.h"

#include <QTest>

using namespace Sluice;
using json = nlohmann::json;

namespace {

struct SimReply
{
    QByteArray events;
    QByteArray errorEvent;
};

SimReply simReply(Provider dialect, bool tools, int chunks)
{
    json body = {{"model", "m-1"}, {"messages", {{{"role", "user"}, {"content", "Tell me about tides"}}}}};
    if (tools) {
        body["tools"] = {{{"name", "lookup"}, {"input_schema", {{"type", "object"}}}}};
    }
    const auto prompt = Sim::Prompt::read(body);
    SimulatorConfig config;
    config.chunksPerReply = chunks;
    const Sim::ReplyContent content = Sim::ReplyContent::compose(body, *prompt, config, "sim", 3);
    Sim::StreamPlan plan;
    if (dialect == Provider::Anthropic) {
        Sim::AnthropicDialect().fillStream(plan, content, true);
    } else {
        Sim::OpenAiDialect().fillStream(plan, content, true);
    }
    SimReply r;
    for (const auto *part : {&plan.opening, &plan.deltas, &plan.closing}) {
        for (const QByteArray &event : *part) {
            r.events += event;
        }
    }
    r.errorEvent = plan.errorEvent;
    return r;
}

/// What a `to` caller gets for `events` of a `from` upstream, and the upstream's assembled reply.
QByteArray translate(Provider from, Provider to, bool includeUsage, const QByteArray &events,
                     StreamAssembler &upstream)
{
    SseParser parser;
    std::vector<SseParser::Event> parsed;
    parser.feed(events, parsed);
    StreamTranslator translator(from, to, includeUsage, 1700000000);
    QByteArray out;
    for (const SseParser::Event &e : parsed) {
        translator.take(upstream.take(e), e, upstream, out);
    }
    return out;
}

StreamAssembler assemble(Provider dialect, const QByteArray &events)
{
    StreamAssembler a(dialect);
    SseParser parser;
    std::vector<SseParser::Event> parsed;
    parser.feed(events, parsed);
    for (const SseParser::Event &e : parsed) {
        a.take(e);
    }
    return a;
}

json parsed(const QByteArray &text)
{
    return json::parse(text.toStdString(), nullptr, false);
}

} // namespace

class tst_StreamTranslator : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void sameDialectPassesEventsThrough_data();
    void sameDialectPassesEventsThrough();
    void usageChunkOnlyWhenAsked();
    void openAiToAnthropic_data();
    void openAiToAnthropic();
    void anthropicToOpenAi_data();
    void anthropicToOpenAi();
    void errorEventsAreNotPassed();
    void eventFraming();
};

void tst_StreamTranslator::sameDialectPassesEventsThrough_data()
{
    QTest::addColumn<int>("dialect");
    QTest::addColumn<bool>("tools");
    QTest::newRow("openai") << int(Provider::OpenAI) << false;
    QTest::newRow("openai tools") << int(Provider::OpenAI) << true;
    QTest::newRow("anthropic") << int(Provider::Anthropic) << false;
    QTest::newRow("anthropic tools") << int(Provider::Anthropic) << true;
}

void tst_StreamTranslator::sameDialectPassesEventsThrough()
{
    QFETCH(int, dialect);
    QFETCH(bool, tools);
    const SimReply sim = simReply(Provider(dialect), tools, 5);
    StreamAssembler upstream{Provider(dialect)};
    const QByteArray out = translate(Provider(dialect), Provider(dialect), true, sim.events, upstream);
    QCOMPARE(out, sim.events); // the simulator frames events as the translator does
}

void tst_StreamTranslator::usageChunkOnlyWhenAsked()
{
    const SimReply sim = simReply(Provider::OpenAI, false, 3);
    StreamAssembler upstream(Provider::OpenAI);
    const QByteArray out = translate(Provider::OpenAI, Provider::OpenAI, false, sim.events, upstream);
    QVERIFY(!out.contains("\"choices\":[]"));
    QVERIFY(sim.events.contains("\"choices\":[]"));
    QVERIFY(out.endsWith("data: [DONE]\n\n"));
    StreamAssembler caller = assemble(Provider::OpenAI, out);
    QVERIFY(caller.isDone());
    QVERIFY(upstream.usage().is_object()); // still read from the upstream for the limits
}

void tst_StreamTranslator::openAiToAnthropic_data()
{
    QTest::addColumn<bool>("tools");
    QTest::newRow("text") << false;
    QTest::newRow("tool call") << true;
}

void tst_StreamTranslator::openAiToAnthropic()
{
    QFETCH(bool, tools);
    const SimReply sim = simReply(Provider::OpenAI, tools, 4);
    StreamAssembler upstream(Provider::OpenAI);
    const QByteArray out = translate(Provider::OpenAI, Provider::Anthropic, false, sim.events, upstream);
    StreamAssembler caller = assemble(Provider::Anthropic, out);
    QVERIFY2(caller.isDone(), out.constData());
    QVERIFY(!caller.isInvalid());
    QVERIFY(caller.contentEvents() == 4);
    json got = parsed(caller.body());
    json expected = Dialect::chatReplyToMessages(parsed(upstream.body()));
    QCOMPARE(QString::fromStdString(got["content"].dump()),
             QString::fromStdString(expected["content"].dump()));
    QCOMPARE(QString::fromStdString((got["stop_reason"]).dump()),
             QString::fromStdString((expected["stop_reason"]).dump()));
    QCOMPARE(QString::fromStdString((got["usage"]["input_tokens"]).dump()),
             QString::fromStdString((expected["usage"]["input_tokens"]).dump()));
    QCOMPARE(QString::fromStdString((got["usage"]["output_tokens"]).dump()),
             QString::fromStdString((expected["usage"]["output_tokens"]).dump()));
    QVERIFY(got["usage"]["output_tokens"].get<int>() > 0);
    QVERIFY(out.startsWith("event: message_start\n"));
}

void tst_StreamTranslator::anthropicToOpenAi_data()
{
    QTest::addColumn<bool>("tools");
    QTest::addColumn<bool>("includeUsage");
    QTest::newRow("text, usage") << false << true;
    QTest::newRow("text") << false << false;
    QTest::newRow("tool use, usage") << true << true;
}

void tst_StreamTranslator::anthropicToOpenAi()
{
    QFETCH(bool, tools);
    QFETCH(bool, includeUsage);
    const SimReply sim = simReply(Provider::Anthropic, tools, 4);
    StreamAssembler upstream(Provider::Anthropic);
    const QByteArray out =
        translate(Provider::Anthropic, Provider::OpenAI, includeUsage, sim.events, upstream);
    StreamAssembler caller = assemble(Provider::OpenAI, out);
    QVERIFY2(caller.isDone(), out.constData());
    json got = parsed(caller.body());
    json expected = Dialect::messagesReplyToChat(parsed(upstream.body()), 1700000000);
    const json &message = got["choices"][0]["message"];
    const json &want = expected["choices"][0]["message"];
    QCOMPARE(QString::fromStdString((message["content"]).dump()),
             QString::fromStdString((want["content"]).dump()));
    if (tools) {
        QCOMPARE(QString::fromStdString(message["tool_calls"].dump()),
                 QString::fromStdString(want["tool_calls"].dump()));
    }
    QCOMPARE(QString::fromStdString((got["choices"][0]["finish_reason"]).dump()),
             QString::fromStdString((expected["choices"][0]["finish_reason"]).dump()));
    QCOMPARE(QString::fromStdString((got["id"]).dump()), QString::fromStdString((expected["id"]).dump()));
    QCOMPARE(got.contains("usage"), includeUsage);
    if (includeUsage) {
        QCOMPARE(QString::fromStdString(got["usage"].dump()),
                 QString::fromStdString(expected["usage"].dump()));
    }
}

void tst_StreamTranslator::errorEventsAreNotPassed()
{
    for (const Provider from : {Provider::OpenAI, Provider::Anthropic}) {
        for (const Provider to : {Provider::OpenAI, Provider::Anthropic}) {
            const SimReply sim = simReply(from, false, 4);
            const qsizetype at = sim.events.indexOf("\n\n") + 2;
            StreamAssembler upstream(from);
            const QByteArray out =
                translate(from, to, true, QByteArray(sim.events.first(at) + sim.errorEvent), upstream);
            QVERIFY(upstream.hasError());
            QVERIFY2(!out.contains("error"),
                     out.constData()); // the gateway writes the end of a failed stream
        }
    }
}

void tst_StreamTranslator::eventFraming()
{
    QByteArray out;
    StreamTranslator::appendEvent(out, "ping", "{\"type\":\"ping\"}");
    StreamTranslator::appendEvent(out, QByteArrayView(), "a\nb");
    QCOMPARE(out, QByteArray("event: ping\ndata: {\"type\":\"ping\"}\n\ndata: a\ndata: b\n\n"));
}

QTEST_GUILESS_MAIN(tst_StreamTranslator)
#include "tst_streamtranslator.moc"
