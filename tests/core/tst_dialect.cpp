// Dialect: OpenAI Chat Completions <-> Anthropic Messages, requests, replies and errors.

#include "net/dialect.h"

#include <QTest>

using namespace Sluice;
using json = nlohmann::json;

Q_DECLARE_METATYPE(Sluice::Provider)

namespace {

json parsed(const QByteArray &text)
{
    return json::parse(text.constData(), text.constData() + text.size());
}

QString dumped(const json &value)
{
    return QString::fromStdString(value.dump());
}

} // namespace

class tst_Dialect : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void chatToMessages_data();
    void chatToMessages();
    void messagesToChat_data();
    void messagesToChat();
    void replyToChat_data();
    void replyToChat();
    void replyToMessages_data();
    void replyToMessages();
    void replyRoundTrip();
    void stopReasons_data();
    void stopReasons();
    void errors_data();
    void errors();
};

void tst_Dialect::chatToMessages_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QByteArray>("expected");

    QTest::newRow("text, system, stop, max_completion_tokens")
        << QByteArray(
               R"({"model":"m","messages":[{"role":"system","content":"S"},{"role":"user","content":"hi"}],)"
               R"("stop":"END","max_completion_tokens":9,"n":1,"temperature":0.5})")
        << QByteArray(R"({"max_tokens":9,"messages":[{"content":"hi","role":"user"}],"model":"m",)"
                      R"("stop_sequences":["END"],"system":"S","temperature":0.5})");
    QTest::newRow("tools and tool_choice by name")
        << QByteArray(
               R"({"messages":[{"role":"user","content":"w?"}],"tools":[{"type":"function","function":)"
               R"({"name":"get_weather","description":"d","parameters":{"type":"object","properties":)"
               R"({"city":{"type":"string"}}}}}],"tool_choice":{"type":"function","function":{"name":"get_weather"}}})")
        << QByteArray(R"({"max_tokens":100,"messages":[{"content":"w?","role":"user"}],"tool_choice":)"
                      R"({"name":"get_weather","type":"tool"},"tools":[{"description":"d","input_schema":)"
                      R"({"properties":{"city":{"type":"string"}},"type":"object"},"name":"get_weather"}]})");
    QTest::newRow("required, no parallel calls, tool without parameters")
        << QByteArray(R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":)"
                      R"({"name":"now"}}],"tool_choice":"required","parallel_tool_calls":false})")
        << QByteArray(R"({"max_tokens":100,"messages":[{"content":"x","role":"user"}],"tool_choice":)"
                      R"({"disable_parallel_tool_use":true,"type":"any"},"tools":[{"input_schema":)"
                      R"({"properties":{},"type":"object"},"name":"now"}]})");
    QTest::newRow("assistant tool calls, tool results merged into one user turn")
        << QByteArray(
               R"({"messages":[{"role":"user","content":"both?"},{"role":"assistant","content":null,)"
               R"("tool_calls":[{"id":"c1","type":"function","function":{"name":"a","arguments":"{\"x\":1}"}},)"
               R"({"id":"c2","type":"function","function":{"name":"b","arguments":"not json"}}]},)"
               R"({"role":"tool","tool_call_id":"c1","content":"one"},)"
               R"({"role":"tool","tool_call_id":"c2","content":[{"type":"text","text":"two"}]}]})")
        << QByteArray(R"({"max_tokens":100,"messages":[{"content":"both?","role":"user"},{"content":[)"
                      R"({"id":"c1","input":{"x":1},"name":"a","type":"tool_use"},)"
                      R"({"id":"c2","input":{},"name":"b","type":"tool_use"}],"role":"assistant"},)"
                      R"({"content":[{"content":"one","tool_use_id":"c1","type":"tool_result"},)"
                      R"({"content":"two","tool_use_id":"c2","type":"tool_result"}],"role":"user"}]})");
    QTest::newRow("assistant text beside a tool call")
        << QByteArray(R"({"messages":[{"role":"assistant","content":"let me look","tool_calls":[{"id":"c",)"
                      R"("type":"function","function":{"name":"f","arguments":"{}"}}]}]})")
        << QByteArray(R"({"max_tokens":100,"messages":[{"content":[{"text":"let me look","type":"text"},)"
                      R"({"id":"c","input":{},"name":"f","type":"tool_use"}],"role":"assistant"}]})");
    QTest::newRow("images: data URL and https URL")
        << QByteArray(R"({"messages":[{"role":"user","content":[{"type":"text","text":"what?"},)"
                      R"({"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}},)"
                      R"({"type":"image_url","image_url":{"url":"https://x.test/a.jpg"}}]}]})")
        << QByteArray(
               R"({"max_tokens":100,"messages":[{"content":[{"text":"what?","type":"text"},)"
               R"({"source":{"data":"iVBO","media_type":"image/png","type":"base64"},"type":"image"},)"
               R"({"source":{"type":"url","url":"https://x.test/a.jpg"},"type":"image"}],"role":"user"}]})");
    QTest::newRow("user becomes metadata.user_id; OpenAI metadata dropped")
        << QByteArray(R"({"messages":[{"role":"user","content":"x"}],"user":"u-1"})")
        << QByteArray(
               R"({"max_tokens":100,"messages":[{"content":"x","role":"user"}],"metadata":{"user_id":"u-1"}})");
    QTest::newRow("free-form metadata dropped")
        << QByteArray(R"({"messages":[{"role":"user","content":"x"}],"metadata":{"k":"v"}})")
        << QByteArray(R"({"max_tokens":100,"messages":[{"content":"x","role":"user"}]})");
}

void tst_Dialect::chatToMessages()
{
    QFETCH(QByteArray, input);
    QFETCH(QByteArray, expected);
    QCOMPARE(dumped(Dialect::chatToMessages(parsed(input), 100)), dumped(parsed(expected)));
}

void tst_Dialect::messagesToChat_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QByteArray>("expected");

    QTest::newRow("text, system blocks, stop_sequences, top_k dropped")
        << QByteArray(R"({"model":"c","max_tokens":5,"system":[{"type":"text","text":"S"}],"top_k":3,)"
                      R"("stop_sequences":["X"],"messages":[{"role":"user","content":"hi"}]})")
        << QByteArray(
               R"({"max_tokens":5,"messages":[{"content":"S","role":"system"},{"content":"hi","role":"user"}],)"
               R"("model":"c","stop":["X"]})");
    QTest::newRow("tools, tool_choice any, no parallel")
        << QByteArray(
               R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f",)"
               R"("description":"d","input_schema":{"type":"object"}},{"type":"web_search_20250305"}],)"
               R"("tool_choice":{"type":"any","disable_parallel_tool_use":true}})")
        << QByteArray(
               R"({"max_tokens":5,"messages":[{"content":"x","role":"user"}],"parallel_tool_calls":false,)"
               R"("tool_choice":"required","tools":[{"function":{"description":"d","name":"f",)"
               R"("parameters":{"type":"object"}},"type":"function"}]})");
    QTest::newRow("tool_use and tool_result")
        << QByteArray(
               R"({"messages":[{"role":"user","content":"w?"},{"role":"assistant","content":[)"
               R"({"type":"text","text":"looking"},{"type":"tool_use","id":"t1","name":"get","input":{"c":"P"}}]},)"
               R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"sunny"},)"
               R"({"type":"text","text":"thanks"}]}],"tool_choice":{"type":"tool","name":"get"}})")
        << QByteArray(
               R"({"messages":[{"content":"w?","role":"user"},{"content":"looking","role":"assistant",)"
               R"("tool_calls":[{"function":{"arguments":"{\"c\":\"P\"}","name":"get"},"id":"t1","type":"function"}]},)"
               R"({"content":"sunny","role":"tool","tool_call_id":"t1"},{"content":"thanks","role":"user"}],)"
               R"("tool_choice":{"function":{"name":"get"},"type":"function"}})");
    QTest::newRow("assistant with only a tool call has null content")
        << QByteArray(
               R"({"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":{}}]}]})")
        << QByteArray(R"({"messages":[{"content":null,"role":"assistant","tool_calls":[{"function":)"
                      R"({"arguments":"{}","name":"n"},"id":"t","type":"function"}]}]})");
    QTest::newRow("base64 image becomes a data URL part")
        << QByteArray(R"({"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64",)"
                      R"("media_type":"image/jpeg","data":"AAAA"}},{"type":"text","text":"what?"}]}]})")
        << QByteArray(
               R"({"messages":[{"content":[{"image_url":{"url":"data:image/jpeg;base64,AAAA"},"type":"image_url"},)"
               R"({"text":"what?","type":"text"}],"role":"user"}]})");
}

void tst_Dialect::messagesToChat()
{
    QFETCH(QByteArray, input);
    QFETCH(QByteArray, expected);
    QCOMPARE(dumped(Dialect::messagesToChat(parsed(input))), dumped(parsed(expected)));
}

void tst_Dialect::replyToChat_data()
{
    QTest::addColumn<QByteArray>("reply");
    QTest::addColumn<QByteArray>("expected");

    QTest::newRow("text, end_turn, usage with cache")
        << QByteArray(
               R"({"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[)"
               R"({"type":"text","text":"Hello"},{"type":"text","text":" there"}],"stop_reason":"end_turn",)"
               R"("usage":{"input_tokens":10,"cache_read_input_tokens":5,"cache_creation_input_tokens":1,"output_tokens":3}})")
        << QByteArray(
               R"({"choices":[{"finish_reason":"stop","index":0,"logprobs":null,"message":{"content":"Hello there",)"
               R"("refusal":null,"role":"assistant"}}],"created":1700000000,"id":"msg_1","model":"claude",)"
               R"("object":"chat.completion","usage":{"completion_tokens":3,"prompt_tokens":16,)"
               R"("prompt_tokens_details":{"cached_tokens":5},"total_tokens":19}})");
    QTest::newRow("tool_use")
        << QByteArray(
               R"({"id":"m","model":"c","content":[{"type":"tool_use","id":"toolu_1","name":"get",)"
               R"("input":{"city":"Paris"}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":2}})")
        << QByteArray(
               R"({"choices":[{"finish_reason":"tool_calls","index":0,"logprobs":null,"message":{"content":null,)"
               R"("refusal":null,"role":"assistant","tool_calls":[{"function":{"arguments":"{\"city\":\"Paris\"}",)"
               R"("name":"get"},"id":"toolu_1","type":"function"}]}}],"created":1700000000,"id":"m","model":"c",)"
               R"("object":"chat.completion","usage":{"completion_tokens":2,"prompt_tokens":1,)"
               R"("prompt_tokens_details":{"cached_tokens":0},"total_tokens":3}})");
    QTest::newRow("escapes, unicode, tool input with strings")
        << QByteArray(
               R"({"id":"m\"1","model":"c\\d","content":[{"type":"text","text":"a\"b\\c\nd\te\u0001f é ✓"},)"
               R"({"type":"tool_use","id":"t","name":"n","input":{"q":"x\"y"}}],"stop_reason":"tool_use"})")
        << QByteArray(
               R"({"choices":[{"finish_reason":"tool_calls","index":0,"logprobs":null,"message":{"content":)"
               R"("a\"b\\c\nd\te\u0001f é ✓","refusal":null,"role":"assistant","tool_calls":[{"function":)"
               R"({"arguments":"{\"q\":\"x\\\"y\"}","name":"n"},"id":"t","type":"function"}]}}],)"
               R"("created":1700000000,"id":"m\"1","model":"c\\d","object":"chat.completion","usage":{}})");
    QTest::newRow("max_tokens, no usage")
        << QByteArray(
               R"({"id":"m","model":"c","content":[{"type":"text","text":"cut"}],"stop_reason":"max_tokens"})")
        << QByteArray(
               R"({"choices":[{"finish_reason":"length","index":0,"logprobs":null,"message":{"content":"cut",)"
               R"("refusal":null,"role":"assistant"}}],"created":1700000000,"id":"m","model":"c",)"
               R"("object":"chat.completion","usage":{}})");
}

void tst_Dialect::replyToChat()
{
    QFETCH(QByteArray, reply);
    QFETCH(QByteArray, expected);
    QCOMPARE(
        dumped(Dialect::translateReply(parsed(reply), Provider::Anthropic, Provider::OpenAI, 1700000000)),
        dumped(parsed(expected)));
    // The gateway's direct writer makes the same object.
    const std::string text = Dialect::messagesReplyToChatText(parsed(reply), 1700000000);
    QCOMPARE(dumped(json::parse(text)), dumped(parsed(expected)));
}

void tst_Dialect::replyToMessages_data()
{
    QTest::addColumn<QByteArray>("reply");
    QTest::addColumn<QByteArray>("expected");

    QTest::newRow("text, stop, cached tokens")
        << QByteArray(
               R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt","choices":[{"index":0,)"
               R"("message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,)"
               R"("completion_tokens":2,"total_tokens":9,"prompt_tokens_details":{"cached_tokens":4}}})")
        << QByteArray(
               R"({"content":[{"text":"Hi","type":"text"}],"id":"chatcmpl-1","model":"gpt","role":"assistant",)"
               R"("stop_reason":"end_turn","stop_sequence":null,"type":"message","usage":{"cache_read_input_tokens":4,)"
               R"("input_tokens":3,"output_tokens":2}})");
    QTest::newRow("tool calls")
        << QByteArray(
               R"({"id":"c","model":"g","choices":[{"index":0,"message":{"role":"assistant","content":null,)"
               R"("tool_calls":[{"id":"call_1","type":"function","function":{"name":"get","arguments":"{\"a\":[1]}"}}]},)"
               R"("finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":1}})")
        << QByteArray(
               R"({"content":[{"id":"call_1","input":{"a":[1]},"name":"get","type":"tool_use"}],"id":"c",)"
               R"("model":"g","role":"assistant","stop_reason":"tool_use","stop_sequence":null,"type":"message",)"
               R"("usage":{"input_tokens":1,"output_tokens":1}})");
    QTest::newRow("length, no choices' content")
        << QByteArray(
               R"({"id":"c","model":"g","choices":[{"index":0,"message":{"role":"assistant","content":""},)"
               R"("finish_reason":"length"}]})")
        << QByteArray(
               R"({"content":[],"id":"c","model":"g","role":"assistant","stop_reason":"max_tokens",)"
               R"("stop_sequence":null,"type":"message","usage":{"input_tokens":0,"output_tokens":0}})");
}

void tst_Dialect::replyToMessages()
{
    QFETCH(QByteArray, reply);
    QFETCH(QByteArray, expected);
    QCOMPARE(dumped(Dialect::translateReply(parsed(reply), Provider::OpenAI, Provider::Anthropic, 0)),
             dumped(parsed(expected)));
}

void tst_Dialect::replyRoundTrip()
{
    const json openai = parsed(
        R"({"id":"c","object":"chat.completion","created":5,"model":"g","choices":[{"index":0,"message":)"
        R"({"role":"assistant","content":"x","refusal":null,"tool_calls":[{"id":"k","type":"function","function":)"
        R"({"name":"f","arguments":"{\"q\":2}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],)"
        R"("usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":0}}})");
    const json back =
        Dialect::translateReply(Dialect::translateReply(openai, Provider::OpenAI, Provider::Anthropic, 0),
                                Provider::Anthropic, Provider::OpenAI, 5);
    QCOMPARE(dumped(back), dumped(openai));
    // Same dialect: untouched.
    QCOMPARE(dumped(Dialect::translateReply(openai, Provider::OpenAI, Provider::OpenAI, 0)), dumped(openai));
}

void tst_Dialect::stopReasons_data()
{
    QTest::addColumn<QString>("stopReason");
    QTest::addColumn<QString>("finishReason");
    QTest::addColumn<QString>("backAgain");
    QTest::newRow("end_turn") << "end_turn"
                              << "stop"
                              << "end_turn";
    QTest::newRow("stop_sequence") << "stop_sequence"
                                   << "stop"
                                   << "end_turn";
    QTest::newRow("max_tokens") << "max_tokens"
                                << "length"
                                << "max_tokens";
    QTest::newRow("tool_use") << "tool_use"
                              << "tool_calls"
                              << "tool_use";
    QTest::newRow("refusal") << "refusal"
                             << "content_filter"
                             << "refusal";
    QTest::newRow("pause_turn") << "pause_turn"
                                << "stop"
                                << "end_turn";
    QTest::newRow("context window") << "model_context_window_exceeded"
                                    << "length"
                                    << "max_tokens";
}

void tst_Dialect::stopReasons()
{
    QFETCH(QString, stopReason);
    QFETCH(QString, finishReason);
    QFETCH(QString, backAgain);
    const std::string finish = Dialect::finishReasonFor(stopReason.toStdString());
    QCOMPARE(QString::fromStdString(finish), finishReason);
    QCOMPARE(QString::fromStdString(Dialect::stopReasonFor(finish)), backAgain);
}

void tst_Dialect::errors_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<int>("status");
    QTest::addColumn<Provider>("to");
    QTest::addColumn<QByteArray>("expected");

    const QByteArray anthropic429 =
        R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})";
    const QByteArray openai429 =
        R"({"error":{"message":"quota gone","type":"insufficient_quota","param":null,"code":"insufficient_quota"}})";
    QTest::newRow("anthropic 429 to openai")
        << anthropic429 << 429 << Provider::OpenAI
        << QByteArray(
               R"({"error":{"code":null,"message":"slow down","param":null,"type":"rate_limit_error"}})");
    QTest::newRow("anthropic 429 to anthropic") << anthropic429 << 429 << Provider::Anthropic << anthropic429;
    QTest::newRow("openai quota to anthropic")
        << openai429 << 429 << Provider::Anthropic
        << QByteArray(R"({"type":"error","error":{"type":"rate_limit_error","message":"quota gone"}})");
    QTest::newRow("openai quota to openai") << openai429 << 429 << Provider::OpenAI << openai429;
    QTest::newRow("openai 400 with param to anthropic")
        << QByteArray(
               R"({"error":{"message":"bad","type":"invalid_request_error","param":"messages","code":null}})")
        << 400 << Provider::Anthropic
        << QByteArray(R"({"type":"error","error":{"type":"invalid_request_error","message":"bad"}})");
    QTest::newRow("anthropic overloaded 529 to openai")
        << QByteArray(R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})") << 529
        << Provider::OpenAI
        << QByteArray(R"({"error":{"code":null,"message":"Overloaded","param":null,"type":"server_error"}})");
    QTest::newRow("string error to anthropic 500")
        << QByteArray(R"({"error":"boom"})") << 500 << Provider::Anthropic
        << QByteArray(R"({"type":"error","error":{"type":"api_error","message":"boom"}})");
    QTest::newRow("not an error object: 401 to openai")
        << QByteArray(R"([1,2])") << 401 << Provider::OpenAI
        << QByteArray(R"({"error":{"code":null,"message":"","param":null,"type":"authentication_error"}})");
    QTest::newRow("504 to anthropic")
        << QByteArray(R"({"error":{"message":"late","type":"sluice_deadline"}})") << 504
        << Provider::Anthropic
        << QByteArray(R"({"type":"error","error":{"type":"timeout_error","message":"late"}})");
}

void tst_Dialect::errors()
{
    QFETCH(QByteArray, body);
    QFETCH(int, status);
    QFETCH(Provider, to);
    QFETCH(QByteArray, expected);
    const Dialect::ApiError error = Dialect::readError(parsed(body), status);
    QCOMPARE(error.status, status);
    QCOMPARE(dumped(Dialect::errorBody(to, error)), dumped(parsed(expected)));
}

QTEST_GUILESS_MAIN(tst_Dialect)
#include "tst_dialect.moc"
