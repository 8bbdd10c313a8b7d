// Sim::FaultScript: parsing `@sim(...)` directives (including the mid-stream keys) and counting
// their `times` per directive and prompt text.

#include "sim/faultscript.h"
#include "sim/prompt.h"

#include <QTest>

#include <nlohmann/json.hpp>

using namespace Sluice::Sim;
using json = nlohmann::json;

namespace {

json body(const std::string &text)
{
    return {{"messages", json::array({{{"role", "user"}, {"content", text}}})}};
}

std::optional<Directive> find(const std::string &text)
{
    const json b = body(text);
    const std::optional<Prompt> prompt = Prompt::read(b);
    return prompt ? FaultScript::find(*prompt) : std::nullopt;
}

} // namespace

class tst_FaultScript : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void noDirective();
    void keys();
    void streamKeys();
    void stallDefaults();
    void statusRules_data();
    void statusRules();
    void timesPerDirectiveAndText();
};

void tst_FaultScript::noDirective()
{
    QVERIFY(!find("just text"));
    QVERIFY(!find("@sim(status=500")); // unclosed
}

void tst_FaultScript::keys()
{
    const auto d =
        find("x @sim(status=429, times=2, retry_after=3, retry_after_ms=40, delay_ms=50, code=abc)");
    QVERIFY(d);
    QCOMPARE(d->status, 429);
    QCOMPARE(d->times, 2);
    QCOMPARE(d->retryAfterS, qint64(3));
    QCOMPARE(d->retryAfterMs, qint64(40));
    QCOMPARE(d->delayMs, qint64(50));
    QCOMPARE(d->code, std::string("abc"));
    QVERIFY(!d->breaksBody());
    QVERIFY(find("@sim(truncate=1)")->breaksBody());
    QVERIFY(find("@sim(drip_ms=5)")->breaksBody());
    QVERIFY(find("@sim(body=garbage)")->breaksBody());
}

void tst_FaultScript::streamKeys()
{
    const auto d = find("@sim(cut_after=4,error_after=2,stall_after=1,stall_ms=700)");
    QVERIFY(d);
    QCOMPARE(d->cutAfter, qint64(4));
    QCOMPARE(d->errorAfter, qint64(2));
    QCOMPARE(d->stallAfter, qint64(1));
    QCOMPARE(d->stallMs, qint64(700));
    QCOMPARE(d->status, 0); // the normal (streamed) answer
    QVERIFY(!d->breaksBody());
    const auto none = find("@sim(cut_after=x,error_after=-1)");
    QCOMPARE(none->cutAfter, qint64(-1));
    QCOMPARE(none->errorAfter, qint64(-1));
}

void tst_FaultScript::stallDefaults()
{
    QCOMPARE(find("@sim(stall_ms=100)")->stallAfter, qint64(0));   // before the first chunk
    QCOMPARE(find("@sim(stall_after=3)")->stallAfter, qint64(-1)); // a place without a stall is no stall
}

void tst_FaultScript::statusRules_data()
{
    QTest::addColumn<QString>("directive");
    QTest::addColumn<int>("status");
    QTest::newRow("204 carries no body: ignored") << QStringLiteral("@sim(status=204)") << 0;
    QTest::newRow("1xx ignored") << QStringLiteral("@sim(status=101)") << 0;
    QTest::newRow("quota code implies 429") << QStringLiteral("@sim(code=insufficient_quota)") << 429;
    QTest::newRow("other code implies 400") << QStringLiteral("@sim(code=bad)") << 400;
    QTest::newRow("redirect without 3xx is 307") << QStringLiteral("@sim(redirect=http://x/y)") << 307;
    QTest::newRow("redirect keeps a 3xx") << QStringLiteral("@sim(status=301,redirect=http://x/y)") << 301;
}

void tst_FaultScript::statusRules()
{
    QFETCH(QString, directive);
    QFETCH(int, status);
    const auto d = find(directive.toStdString());
    QVERIFY(d);
    QCOMPARE(d->status, status);
}

void tst_FaultScript::timesPerDirectiveAndText()
{
    FaultScript script;
    const json a = body("a @sim(cut_after=1,times=2)");
    const json b = body("b @sim(cut_after=1,times=2)");
    const std::optional<Prompt> pa = Prompt::read(a);
    const std::optional<Prompt> pb = Prompt::read(b);
    QVERIFY(script.take(*pa));
    QVERIFY(script.take(*pa));
    QVERIFY(!script.take(*pa)); // used up for this text
    QVERIFY(script.take(*pb));  // another text counts on its own
    const json always = body("c @sim(error_after=0)");
    const std::optional<Prompt> pc = Prompt::read(always);
    for (int i = 0; i < 5; ++i)
        QVERIFY(script.take(*pc));
}

QTEST_APPLESS_MAIN(tst_FaultScript)
#include "tst_faultscript.moc"
