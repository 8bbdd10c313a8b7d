// Prices and budgets: the shipped table, the project's price blocks (errors name the file and key), the
// cost of a reply's usage with cached input, and the engine on the scripted fake transport and the
// manual clock: a budget that holds with failures, retries and two differently priced endpoints, a stop
// that leaves unsent lines without a record and a resume that ends every line once, unpriced models.
#include "config/pricetable.h"
#include "cost/costbook.h"
#include "cost/costbudget.h"
#include "fakerun.h"
#include "net/provideradapter.h"
#include "testprinters.h"

#include <QRegularExpression>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>

#include <memory>
#include <random>

using namespace Sluice;
using json = nlohmann::json;
using Reply = Test::FakeTransport::Reply;
using Sent = Test::FakeTransport::Sent;

namespace {

/// One file run on the fake transport (Test::FakeRun), with chat lines that name a model and set
/// max_tokens.
struct Harness : Test::FakeRun
{
    Harness() { project.limits.retry.maxAttempts = 6; }
    EndpointConfig &addEndpoint(const QString &name, double inputPerMtok, double outputPerMtok)
    {
        EndpointConfig e =
            EndpointConfig::fromUrl(QUrl(QStringLiteral("http://127.0.0.1:9/v1/chat/completions")), 0);
        e.name = name;
        e.model = QStringLiteral("house-model");
        e.maxInFlight = 16;
        if (inputPerMtok >= 0) {
            e.price.inputPerMtok = inputPerMtok;
            e.price.outputPerMtok = outputPerMtok;
        }
        project.endpoints.append(e);
        return project.endpoints.last();
    }
    /// `n` chat lines "p1".."pn" with max_tokens 50 (model: the endpoint's unless `model` is given).
    bool writeLines(int n, const std::string &model = std::string())
    {
        QList<json> lines;
        for (int i = 1; i <= n; ++i) {
            json line = {{"messages", {{{"role", "user"}, {"content", "p" + std::to_string(i)}}}},
                         {"max_tokens", 50}};
            if (!model.empty()) {
                line["model"] = model;
            }
            lines.append(line);
        }
        return Test::writeJsonl(options.requestsPath, lines);
    }
    /// The sum of the cost_usd of every record.
    double recordedUsd() const
    {
        double sum = 0;
        for (const QList<json> &file : {results(), errors()}) {
            for (const json &r : file) {
                if (r.at("cost_usd").is_number()) {
                    sum += r.at("cost_usd").get<double>();
                }
            }
        }
        return sum;
    }
};

/// A script with 10 % 500s, 2 % 2xx replies cut short (billed at their worst case), and usage that
/// varies by line: 20 input tokens, 1..50 output tokens.
Test::FakeTransport::Script faultyScript(std::mt19937 &dice)
{
    return [&dice](const Sent &sent) {
        Reply r;
        r.delayMs = 1 + dice() % 30;
        const unsigned roll = dice() % 100;
        if (roll < 10) {
            r.status = 500;
            r.body = {{"error", {{"message", "boom"}, {"type", "server_error"}}}};
        } else if (roll < 12) {
            r.truncated = true;
        }
        r.inputTokens = 20;
        r.outputTokens = 1 + Test::FakeTransport::textOf(sent).mid(1).toInt() % 50;
        return r;
    };
}

} // namespace

class tst_Cost : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void shippedTableIsDatedAndKnowsCommonModels();
    void priceErrorsNameFileAndKey_data();
    void priceErrorsNameFileAndKey();
    void projectPricesOverrideTheTable();
    void cachedInputIsPricedAtItsRate_data();
    void cachedInputIsPricedAtItsRate();
    void cachedTokensReachTheResultsLines();
    void spendNeverPassesTheBudget();
    void resumeWithALargerBudgetEndsEveryLineOnce();
    void endpointBudgetMovesTrafficToTheOther();
    void unpricedModelsAreRefusedForABudgetedRun();
};

void tst_Cost::shippedTableIsDatedAndKnowsCommonModels()
{
    const PriceTable &table = PriceTable::shipped();
    QVERIFY(!table.isEmpty());
    QVERIFY2(QRegularExpression(QStringLiteral("^\\d{4}-\\d{2}-\\d{2}$")).match(table.writtenOn()).hasMatch(),
             qPrintable(table.writtenOn()));
    QVERIFY(!table.sources().isEmpty());
    for (const char *name : {"gpt-4o-mini", "gpt-4.1", "claude-3-5-haiku", "claude-sonnet-4-5"}) {
        const Price *p = table.find(name);
        QVERIFY2(p && p->isPriced() && p->maxOutputTokens > 0, name);
    }
    // Snapshots and aliases find their model's entry; a snapshot priced apart keeps its own.
    QCOMPARE(table.find("gpt-4o-mini-2024-07-18"), table.find("gpt-4o-mini"));
    QCOMPARE(table.find("claude-3-5-haiku-latest"), table.find("claude-3-5-haiku"));
    QCOMPARE(table.find("claude-3-5-haiku-20241022"), table.find("claude-3-5-haiku"));
    QVERIFY(table.find("gpt-4o-2024-05-13") != table.find("gpt-4o"));
    QCOMPARE(table.find("no-such-model"), nullptr);
}

void tst_Cost::priceErrorsNameFileAndKey_data()
{
    QTest::addColumn<QByteArray>("price");
    QTest::addColumn<QString>("expected");
    QTest::newRow("unknown key") << QByteArray(R"({"input_per_token": 1, "output_per_mtok": 2})")
                                 << QStringLiteral("endpoints[0].price.input_per_token: unknown key");
    QTest::newRow("negative") << QByteArray(R"({"input_per_mtok": -1, "output_per_mtok": 2})")
                              << QStringLiteral("endpoints[0].price.input_per_mtok: expected USD");
    QTest::newRow("text") << QByteArray(R"({"input_per_mtok": "1", "output_per_mtok": 2})")
                          << QStringLiteral("endpoints[0].price.input_per_mtok");
    QTest::newRow("half") << QByteArray(R"({"input_per_mtok": 1})")
                          << QStringLiteral("endpoints[0].price: give both");
    QTest::newRow("model") << QByteArray(R"({"models": {"m": {"output_per_mtok": 2, "cached": 1}}})")
                           << QStringLiteral("endpoints[0].price.models.m.cached: unknown key");
    QTest::newRow("max output")
        << QByteArray(R"({"input_per_mtok": 1, "output_per_mtok": 2, "max_output_tokens": 0.5})")
        << QStringLiteral("endpoints[0].price.max_output_tokens");
}

void tst_Cost::priceErrorsNameFileAndKey()
{
    QFETCH(QByteArray, price);
    QFETCH(QString, expected);
    const json root =
        json::parse(R"({"endpoints": [{"url": "http://127.0.0.1:9/v1/chat/completions", "price": )" +
                    price.toStdString() + "}]}");
    const auto project = ProjectConfig::fromJson(root, QStringLiteral("team.json"));
    QVERIFY(!project);
    QVERIFY2(project.error().message.startsWith(QStringLiteral("team.json: ")),
             qPrintable(project.error().message));
    QVERIFY2(project.error().message.contains(expected), qPrintable(project.error().message));

    const json limits = json::parse(R"({"endpoints": [{"url": "http://127.0.0.1:9/v1/chat/completions"}],
                                        "limits": {"max_cost_usd": -3}})");
    const auto badBudget = ProjectConfig::fromJson(limits, QStringLiteral("team.json"));
    QVERIFY(!badBudget);
    QVERIFY2(badBudget.error().message.contains(QStringLiteral("max_cost_usd")),
             qPrintable(badBudget.error().message));
}

void tst_Cost::projectPricesOverrideTheTable()
{
    const json root = json::parse(R"({"endpoints": [
        {"name": "own", "url": "http://127.0.0.1:9/v1/chat/completions", "model": "gpt-4o-mini",
         "price": {"input_per_mtok": 1, "output_per_mtok": 2,
                   "models": {"gpt-4.1": {"input_per_mtok": 3, "output_per_mtok": 4, "max_output_tokens": 100}}},
         "max_cost_usd": 7},
        {"name": "table", "url": "http://127.0.0.1:9/v1/chat/completions", "model": "gpt-4o-mini"}],
        "limits": {"max_cost_usd": 12.5, "allow_unpriced": true}})");
    const auto project = ProjectConfig::fromJson(root, QStringLiteral("p.json"));
    QVERIFY2(project, project ? "" : qPrintable(project.error().message));
    QCOMPARE(project->limits.maxCostUsd, 12.5);
    QVERIFY(project->limits.allowUnpriced);
    QCOMPARE(project->endpoints.at(0).maxCostUsd, 7.0);
    // Written back, read again: the same prices.
    const auto again = ProjectConfig::fromJson(project->toJson(), QStringLiteral("p.json"));
    QVERIFY(again);
    QCOMPARE(again->endpoints.at(0).price, project->endpoints.at(0).price);
    QCOMPARE(again->endpoints.at(0).modelPrices, project->endpoints.at(0).modelPrices);

    const CostBook book(*project, QString());
    const int mini = book.modelId("gpt-4o-mini");
    const int four = book.modelId("gpt-4.1");
    QCOMPARE(book.price(0, mini).inputPerMtok, 1.0);              // the endpoint's price, every model
    QCOMPARE(book.price(0, four).outputPerMtok, 4.0);             // its price.models entry
    QCOMPARE(book.price(1, mini).inputPerMtok, 0.15);             // the shipped table
    QCOMPARE(book.price(0, CostBook::Unnamed).inputPerMtok, 1.0); // lines naming none: its model
    QCOMPARE(book.outputCap(0, four, -1), 100.0);                 // no max_tokens: the model's maximum
    QCOMPARE(book.outputCap(0, four, 5000), 100.0);               // never more than it
    QCOMPARE(book.outputCap(1, mini, 64), 64.0);
    QCOMPARE(book.modelId("nobody-prices-this"), CostBook::Unknown);
    QCOMPARE(book.price(0, CostBook::Unknown).inputPerMtok, 1.0); // the endpoint's price covers it
    QVERIFY(!book.isPriced(1, CostBook::Unknown));                // the table does not
}

void tst_Cost::cachedInputIsPricedAtItsRate_data()
{
    QTest::addColumn<QByteArray>("reply");
    QTest::addColumn<int>("provider");
    QTest::addColumn<QString>("model");
    QTest::addColumn<double>("expectedUsd");
    // gpt-4o-mini: 0.15 input, 0.075 cached, 0.60 output per million. 1000 prompt tokens of which 800
    // cached: 200 × 0.15 + 800 × 0.075 + 100 × 0.60 = 150 micro-dollars.
    QTest::newRow("openai cached_tokens")
        << QByteArray(R"({"id":"x","usage":{"prompt_tokens":1000,"completion_tokens":100,
                          "prompt_tokens_details":{"cached_tokens":800}}})")
        << int(Provider::OpenAI) << QStringLiteral("gpt-4o-mini") << 150e-6;
    QTest::newRow("openai no cache") << QByteArray(
                                            R"({"usage":{"prompt_tokens":1000,"completion_tokens":100}})")
                                     << int(Provider::OpenAI) << QStringLiteral("gpt-4o-mini") << 210e-6;
    // claude-3-5-haiku: 0.80 input, 1.00 cache write, 0.08 cache read, 4.00 output. input_tokens does
    // not count the cache: 200 × 0.8 + 800 × 0.08 + 100 × 1.0 + 100 × 4.0 = 724 micro-dollars.
    QTest::newRow("anthropic cache read and write")
        << QByteArray(R"({"type":"message","usage":{"input_tokens":200,"output_tokens":100,
                          "cache_read_input_tokens":800,"cache_creation_input_tokens":100}})")
        << int(Provider::Anthropic) << QStringLiteral("claude-3-5-haiku-latest") << 724e-6;
    // The Responses API shape: input_tokens counts the cache, input_tokens_details says how much.
    QTest::newRow("responses input_tokens_details")
        << QByteArray(R"({"usage":{"input_tokens":1000,"output_tokens":100,
                          "input_tokens_details":{"cached_tokens":800}}})")
        << int(Provider::OpenAI) << QStringLiteral("gpt-4o-mini") << 150e-6;
}

void tst_Cost::cachedInputIsPricedAtItsRate()
{
    QFETCH(QByteArray, reply);
    QFETCH(int, provider);
    QFETCH(QString, model);
    QFETCH(double, expectedUsd);
    const auto scanned = ProviderAdapter::scanReply(reply, Provider(provider));
    QVERIFY(scanned);
    const Usage parsed = ProviderAdapter::usage(json::parse(reply.toStdString()), Provider(provider));
    QCOMPARE(parsed.cachedInputTokens, scanned->cachedInputTokens); // both readers agree
    QCOMPARE(parsed.cacheWriteTokens, scanned->cacheWriteTokens);
    QCOMPARE(parsed.inputTokens, scanned->inputTokens);
    const Price *price = PriceTable::shipped().find(model.toStdString());
    QVERIFY(price);
    const double usd = CostBook::costUsd(*price, *scanned);
    QVERIFY2(std::abs(usd - expectedUsd) < 1e-12, qPrintable(QString::number(usd, 'g', 12)));
}

void tst_Cost::cachedTokensReachTheResultsLines()
{
    Harness h;
    h.addEndpoint(QStringLiteral("a"), 2.0, 8.0).price.cachedInputPerMtok = 0.5;
    QVERIFY(h.writeLines(20));
    h.transport.setScript([](const Sent &) {
        Reply r;
        r.body = {{"id", "c"},
                  {"object", "chat.completion"},
                  {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", "ok"}}}}}},
                  {"usage",
                   {{"prompt_tokens", 1000},
                    {"completion_tokens", 10},
                    {"prompt_tokens_details", {{"cached_tokens", 600}}}}}};
        return r;
    });
    QVERIFY(h.run());
    const QList<json> results = h.results();
    QCOMPARE(results.size(), 20);
    const double each = (400 * 2.0 + 600 * 0.5 + 10 * 8.0) / 1e6; // 1180 micro-dollars
    for (const json &r : results) {
        QVERIFY2(std::abs(r.at("cost_usd").get<double>() - each) < 1e-9, r.dump().c_str());
    }
    QVERIFY(std::abs(h.summary.cost.spentUsd - 20 * each) < 1e-9);
    QCOMPARE(h.summary.cost.pricedReplies, qint64(20));
    QCOMPARE(h.summary.endpoints.at(0).costSpentUsd, h.summary.cost.spentUsd);
}

void tst_Cost::spendNeverPassesTheBudget()
{
    // Two endpoints priced 2/8 and 5/20 USD per million, 10 % 500s (retried), 2 % 2xx cut short
    // (billed at their worst case), up to 16 requests in flight each: the budget holds.
    Harness h;
    h.addEndpoint(QStringLiteral("cheap"), 2.0, 8.0);
    h.addEndpoint(QStringLiteral("dear"), 5.0, 20.0);
    const double budget = 0.25;
    h.project.limits.maxCostUsd = budget;
    const int n = 2000;
    QVERIFY(h.writeLines(n));
    std::mt19937 dice(5);
    h.transport.setScript(faultyScript(dice));
    QVERIFY(h.run());
    const double spent = h.summary.cost.spentUsd;
    qInfo("budget $%.4f: spent $%.6f on %lld attempts, %lld retries; %lld lines not sent", budget, spent,
          h.summary.issued, h.summary.retries, h.summary.notStarted);
    QVERIFY(h.summary.cost.budgetReached);
    QVERIFY2(spent <= budget + 1e-9, qPrintable(QString::number(spent, 'f', 9)));
    // Stopped only when the next worst case (at most 122 × 5 + 50 × 20 micro-dollars) no longer fit.
    QVERIFY2(spent > budget - 0.002, qPrintable(QString::number(spent, 'f', 9)));
    QVERIFY(h.summary.retries > 0);
    QVERIFY(h.transport.sentTo(0) > 0 && h.transport.sentTo(1) > 0);
    QCOMPARE(h.summary.cost.reservedUsd, 0.0);
    // What the records say they cost is what was spent (each attempt counted once).
    QVERIFY2(std::abs(h.recordedUsd() - spent) < 1e-6 || h.recordedUsd() < spent,
             qPrintable(QStringLiteral("%1 vs %2").arg(h.recordedUsd()).arg(spent)));
    // Unsent lines have no record, and none says "budget".
    QSet<qint64> seen;
    QVERIFY(h.linesWithRecords(&seen));
    QCOMPARE(qint64(seen.size()) + h.summary.notStarted, qint64(n));
    QVERIFY(h.summary.notStarted > 0);
    for (const json &e : h.errors()) {
        QVERIFY2(e.at("error").at("class") != "budget", e.dump().c_str());
    }
}

void tst_Cost::resumeWithALargerBudgetEndsEveryLineOnce()
{
    Harness h;
    h.addEndpoint(QStringLiteral("cheap"), 2.0, 8.0);
    h.addEndpoint(QStringLiteral("dear"), 5.0, 20.0);
    h.project.limits.maxCostUsd = 0.05;
    const int n = 600;
    QVERIFY(h.writeLines(n));
    std::mt19937 dice(9);
    h.transport.setScript(faultyScript(dice));
    QVERIFY(h.run());
    QVERIFY(h.summary.cost.budgetReached);
    const qint64 left = h.summary.notStarted;
    QVERIFY(left > 0);

    h.engine.reset();
    h.options.mode = RunOptions::Mode::Resume;
    h.project.limits.maxCostUsd = 10;
    QVERIFY2(h.run(), qPrintable(h.startError));
    QVERIFY(!h.summary.cost.budgetReached);
    QCOMPARE(h.summary.notStarted, qint64(0));
    QCOMPARE(h.summary.succeeded + h.summary.failed, left);
    QSet<qint64> seen;
    QVERIFY(h.linesWithRecords(&seen));
    QCOMPARE(seen.size(), n);
}

void tst_Cost::endpointBudgetMovesTrafficToTheOther()
{
    // The dear endpoint's own budget is small: when it is spent, the cheap one takes the rest.
    Harness h;
    h.addEndpoint(QStringLiteral("cheap"), 2.0, 8.0);
    h.addEndpoint(QStringLiteral("dear"), 5.0, 20.0).maxCostUsd = 0.01;
    QVERIFY(h.writeLines(400));
    h.transport.setScript([](const Sent &) { return Reply{}; });
    QVERIFY(h.run());
    QCOMPARE(h.results().size(), 400);
    QVERIFY(!h.summary.cost.budgetReached);
    QVERIFY(h.summary.endpoints.at(1).costSpentUsd <= 0.01 + 1e-9);
    QVERIFY(h.transport.sentTo(1) > 0);
    QVERIFY(h.transport.sentTo(0) > 300);
}

void tst_Cost::unpricedModelsAreRefusedForABudgetedRun()
{
    {
        Harness h;
        h.addEndpoint(QStringLiteral("nameless"), -1, -1); // "house-model": no price anywhere
        h.project.limits.maxCostUsd = 1;
        QVERIFY(h.writeLines(5));
        QVERIFY(!h.start());
        QVERIFY2(h.startError.contains(QStringLiteral("nameless (model house-model)")),
                 qPrintable(h.startError));
        QVERIFY(h.startError.contains(QStringLiteral("allow_unpriced")));
        QCOMPARE(int(h.transport.sent().size()), 0);
    }
    {
        Harness h; // allowed: it runs, uncounted, and says so
        h.addEndpoint(QStringLiteral("nameless"), -1, -1);
        h.project.limits.maxCostUsd = 1;
        h.project.limits.allowUnpriced = true;
        QVERIFY(h.writeLines(5));
        QVERIFY(h.run());
        QCOMPARE(h.results().size(), 5);
        QCOMPARE(h.summary.cost.unpricedReplies, qint64(5));
        QVERIFY(h.results().first().at("cost_usd").is_null());
    }
    {
        Harness h; // an endpoint priced by the table, but lines naming a model nobody prices: refused
        h.addEndpoint(QStringLiteral("priced"), -1, -1).model = QStringLiteral("gpt-4o-mini");
        h.project.limits.maxCostUsd = 1;
        QVERIFY(h.writeLines(5, "mystery-model"));
        QVERIFY(h.run());
        QCOMPARE(int(h.transport.sent().size()), 0);
        const QList<json> errors = h.errors();
        QCOMPARE(errors.size(), 5);
        QVERIFY2(errors.first().dump().find("mystery-model") != std::string::npos,
                 errors.first().dump().c_str());
    }
    {
        Harness h; // without a budget, unpriced is fine
        h.addEndpoint(QStringLiteral("nameless"), -1, -1);
        QVERIFY(h.writeLines(3));
        QVERIFY(h.run());
        QCOMPARE(h.results().size(), 3);
    }
}

QTEST_GUILESS_MAIN(tst_Cost)
#include "tst_cost.moc"
