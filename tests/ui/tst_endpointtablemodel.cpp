#include "models/endpointtablemodel.h"

#include <QAbstractItemModelTester>
#include <QLocale>
#include <QSignalSpy>
#include <QTest>

#include <limits>
#include <memory>

using namespace Sluice;
using Sluice::Gui::EndpointTableModel;

class tst_EndpointTableModel : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void setEndpointsShowsRows();
    void configData_data();
    void configData();
    void liveData_data();
    void liveData();
    void alignmentAndHeaders();
    void setDataValidation_data();
    void setDataValidation();
    void urlChangeReinfersInferredProvider();
    void runningFlags();
    void liveEditOnlyWhileRunning();
    void enabledToggleStoresAndRestoresWeight();
    void weightZeroUnchecksEnabled();
    void snapshotSignalsOnlyChangedCells();
    void snapshotSizeMismatch();
    void clearStats();
    void addDuplicateRemove();
    void rowOperationsRefusedWhileRunning();

private:
    static QList<EndpointConfig> twoEndpoints();
    static MetricsSnapshot snapshot();

    std::unique_ptr<EndpointTableModel> m_model;
    std::unique_ptr<QAbstractItemModelTester> m_tester;
};

QList<EndpointConfig> tst_EndpointTableModel::twoEndpoints()
{
    EndpointConfig a;
    a.name = QStringLiteral("alpha");
    a.url = QUrl(QStringLiteral("https://api.example.com/v1/messages"));
    a.provider = Provider::Anthropic;
    a.weight = 2.5;
    a.model = QStringLiteral("m1");
    a.apiKeyEnv = QStringLiteral("ALPHA_KEY");
    a.rpm = 0;
    a.tpm = 60000;
    a.maxInFlight = 32;
    EndpointConfig b =
        EndpointConfig::fromUrl(QUrl(QStringLiteral("http://127.0.0.1:9000/v1/chat/completions")), 1);
    b.name = QStringLiteral("beta");
    b.rpm = 1200;
    return {a, b};
}

MetricsSnapshot tst_EndpointTableModel::snapshot()
{
    MetricsSnapshot s;
    EndpointStats a;
    a.name = QStringLiteral("alpha");
    a.state = EndpointState::CoolingDown;
    a.inFlight = 3;
    a.ok = 1200;
    a.rateLimited = 4;
    a.errors = 0;
    a.p50Ms = 53.2;
    a.limitRps = 12.5;
    a.limitReason = LimitReason::HeaderLimit;
    a.costSpentUsd = 0.0123;
    a.costReservedUsd = 0.004;
    EndpointStats b;
    b.name = QStringLiteral("beta");
    b.state = EndpointState::Active;
    b.ok = 7;
    b.costSpentUsd = 12.5;
    s.endpoints = {a, b};
    return s;
}

void tst_EndpointTableModel::initTestCase()
{
    QLocale::setDefault(QLocale(QLocale::English, QLocale::UnitedStates));
}

void tst_EndpointTableModel::init()
{
    m_model = std::make_unique<EndpointTableModel>();
    m_tester = std::make_unique<QAbstractItemModelTester>(
        m_model.get(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    m_model->setEndpoints(twoEndpoints());
}

void tst_EndpointTableModel::cleanup()
{
    m_tester.reset();
    m_model.reset();
}

void tst_EndpointTableModel::setEndpointsShowsRows()
{
    QCOMPARE(m_model->rowCount(), 2);
    QCOMPARE(m_model->columnCount(), int(EndpointTableModel::ColumnCount));
    QCOMPARE(m_model->index(0, EndpointTableModel::Name).data().toString(), QStringLiteral("alpha"));
    QCOMPARE(m_model->index(1, EndpointTableModel::Name).data().toString(), QStringLiteral("beta"));
    QCOMPARE(m_model->endpoints().size(), 2);

    QSignalSpy reset(m_model.get(), &QAbstractItemModel::modelReset);
    m_model->setEndpoints({twoEndpoints().first()});
    QCOMPARE(reset.count(), 1);
    QCOMPARE(m_model->rowCount(), 1);
}

void tst_EndpointTableModel::configData_data()
{
    QTest::addColumn<int>("row");
    QTest::addColumn<int>("column");
    QTest::addColumn<QVariant>("display");
    QTest::addColumn<QVariant>("edit");

    using M = EndpointTableModel;
    QTest::newRow("name") << 0 << int(M::Name) << QVariant(QStringLiteral("alpha"))
                          << QVariant(QStringLiteral("alpha"));
    QTest::newRow("url") << 0 << int(M::Url)
                         << QVariant(QStringLiteral("https://api.example.com/v1/messages"))
                         << QVariant(QStringLiteral("https://api.example.com/v1/messages"));
    QTest::newRow("provider anthropic") << 0 << int(M::Provider) << QVariant(QStringLiteral("anthropic"))
                                        << QVariant(QStringLiteral("anthropic"));
    QTest::newRow("provider openai") << 1 << int(M::Provider) << QVariant(QStringLiteral("openai"))
                                     << QVariant(QStringLiteral("openai"));
    QTest::newRow("key env") << 0 << int(M::KeyEnv) << QVariant(QStringLiteral("ALPHA_KEY"))
                             << QVariant(QStringLiteral("ALPHA_KEY"));
    QTest::newRow("model") << 0 << int(M::Model) << QVariant(QStringLiteral("m1"))
                           << QVariant(QStringLiteral("m1"));
    QTest::newRow("weight fraction") << 0 << int(M::Weight) << QVariant(QStringLiteral("2.5"))
                                     << QVariant(2.5);
    QTest::newRow("weight whole") << 1 << int(M::Weight) << QVariant(QStringLiteral("1")) << QVariant(1.0);
    QTest::newRow("rpm unlimited") << 0 << int(M::Rpm) << QVariant(QStringLiteral("unlimited"))
                                   << QVariant(0.0);
    QTest::newRow("rpm grouped") << 1 << int(M::Rpm) << QVariant(QStringLiteral("1,200")) << QVariant(1200.0);
    QTest::newRow("tpm grouped") << 0 << int(M::Tpm) << QVariant(QStringLiteral("60,000"))
                                 << QVariant(60000.0);
    QTest::newRow("tpm unlimited") << 1 << int(M::Tpm) << QVariant(QStringLiteral("unlimited"))
                                   << QVariant(0.0);
    QTest::newRow("max in flight") << 0 << int(M::MaxInFlight) << QVariant(QStringLiteral("32"))
                                   << QVariant(32);
    QTest::newRow("enabled") << 0 << int(M::Enabled) << QVariant() << QVariant(true);
    QTest::newRow("state before run") << 0 << int(M::State) << QVariant(QString()) << QVariant();
}

void tst_EndpointTableModel::configData()
{
    QFETCH(int, row);
    QFETCH(int, column);
    QFETCH(QVariant, display);
    QFETCH(QVariant, edit);
    const QModelIndex index = m_model->index(row, column);
    QCOMPARE(index.data(Qt::DisplayRole), display);
    QCOMPARE(index.data(Qt::EditRole), edit);
    if (edit.isValid()) {
        QCOMPARE(index.data(Qt::EditRole).typeId(), edit.typeId());
    }
}

void tst_EndpointTableModel::liveData_data()
{
    QTest::addColumn<int>("row");
    QTest::addColumn<int>("column");
    QTest::addColumn<QString>("display");
    QTest::addColumn<QVariant>("edit");

    using M = EndpointTableModel;
    QTest::newRow("state") << 0 << int(M::State) << QStringLiteral("cooling down")
                           << QVariant(QStringLiteral("cooling down"));
    QTest::newRow("in flight") << 0 << int(M::InFlight) << QStringLiteral("3") << QVariant(3);
    QTest::newRow("ok") << 0 << int(M::Ok) << QStringLiteral("1,200") << QVariant(qint64(1200));
    QTest::newRow("429") << 0 << int(M::RateLimited) << QStringLiteral("4") << QVariant(qint64(4));
    QTest::newRow("errors") << 0 << int(M::Errors) << QStringLiteral("0") << QVariant(qint64(0));
    QTest::newRow("p50") << 0 << int(M::P50) << QStringLiteral("53 ms") << QVariant(53.2);
    QTest::newRow("p50 none") << 1 << int(M::P50) << QStringLiteral("—") << QVariant(0.0);
    QTest::newRow("limit") << 0 << int(M::Limit) << QStringLiteral("12.5/s (header limit)") << QVariant(12.5);
    QTest::newRow("limit unlimited") << 1 << int(M::Limit) << QStringLiteral("— (unlimited)")
                                     << QVariant(0.0);
    QTest::newRow("cost with in flight")
        << 0 << int(M::Cost) << QStringLiteral("$0.0123 + $0.00400") << QVariant(0.0123);
    QTest::newRow("cost") << 1 << int(M::Cost) << QStringLiteral("$12.50") << QVariant(12.5);
}

void tst_EndpointTableModel::liveData()
{
    QFETCH(int, row);
    QFETCH(int, column);
    QFETCH(QString, display);
    QFETCH(QVariant, edit);
    m_model->applySnapshot(snapshot());
    const QModelIndex index = m_model->index(row, column);
    QCOMPARE(index.data(Qt::DisplayRole).toString(), display);
    QCOMPARE(index.data(Qt::EditRole), edit);
    QVERIFY(!(index.flags() & Qt::ItemIsEditable));
}

void tst_EndpointTableModel::alignmentAndHeaders()
{
    using M = EndpointTableModel;
    const int right = int(Qt::AlignRight | Qt::AlignVCenter);
    QCOMPARE(m_model->index(0, M::Weight).data(Qt::TextAlignmentRole).toInt(), right);
    QCOMPARE(m_model->index(0, M::Rpm).data(Qt::TextAlignmentRole).toInt(), right);
    QCOMPARE(m_model->index(0, M::Cost).data(Qt::TextAlignmentRole).toInt(), right);
    QVERIFY(!m_model->index(0, M::Name).data(Qt::TextAlignmentRole).isValid());
    for (int c = 0; c < M::ColumnCount; ++c) {
        QVERIFY2(!m_model->headerData(c, Qt::Horizontal, Qt::ToolTipRole).toString().isEmpty(),
                 qPrintable(QString::number(c)));
        QVERIFY(!m_model->headerData(c, Qt::Horizontal, Qt::DisplayRole).toString().isEmpty());
    }
    QCOMPARE(m_model->index(0, M::Enabled).data(Qt::CheckStateRole).toInt(), int(Qt::Checked));
    QVERIFY(m_model->index(0, M::Enabled).flags() & Qt::ItemIsUserCheckable);

    m_model->applySnapshot(snapshot());
    QVERIFY(m_model->index(0, M::State).data(Qt::ForegroundRole).isValid());  // cooling down
    QVERIFY(!m_model->index(1, M::State).data(Qt::ForegroundRole).isValid()); // active
    MetricsSnapshot nothingSpent = snapshot();
    nothingSpent.endpoints[1].costSpentUsd = 0;
    nothingSpent.endpoints[1].costReservedUsd = 1e-18; // what settling leaves of a sum of doubles
    m_model->applySnapshot(nothingSpent);
    QCOMPARE(m_model->index(1, M::Cost).data().toString(), QStringLiteral("—"));
    const QString costTip = m_model->index(0, M::Cost).data(Qt::ToolTipRole).toString();
    QVERIFY2(costTip.contains(QStringLiteral("Spent: $0.0123")) &&
                 costTip.contains(QStringLiteral("In flight (committed, worst case): $0.00400")),
             qPrintable(costTip));
}

void tst_EndpointTableModel::setDataValidation_data()
{
    QTest::addColumn<int>("column");
    QTest::addColumn<QVariant>("value");
    QTest::addColumn<bool>("accepted");
    QTest::addColumn<QVariant>("after"); // EditRole of row 0 afterwards

    using M = EndpointTableModel;
    const QVariant weight(2.5);
    QTest::newRow("weight 3") << int(M::Weight) << QVariant(3.0) << true << QVariant(3.0);
    QTest::newRow("weight 0") << int(M::Weight) << QVariant(0.0) << true << QVariant(0.0);
    QTest::newRow("weight string") << int(M::Weight) << QVariant(QStringLiteral("4.5")) << true
                                   << QVariant(4.5);
    QTest::newRow("weight negative") << int(M::Weight) << QVariant(-1.0) << false << weight;
    QTest::newRow("weight nan") << int(M::Weight) << QVariant(std::numeric_limits<double>::quiet_NaN())
                                << false << weight;
    QTest::newRow("weight inf") << int(M::Weight) << QVariant(std::numeric_limits<double>::infinity())
                                << false << weight;
    QTest::newRow("weight text") << int(M::Weight) << QVariant(QStringLiteral("lots")) << false << weight;

    QTest::newRow("rpm 120") << int(M::Rpm) << QVariant(120.0) << true << QVariant(120.0);
    QTest::newRow("rpm unlimited text")
        << int(M::Rpm) << QVariant(QStringLiteral("unlimited")) << true << QVariant(0.0);
    QTest::newRow("rpm negative") << int(M::Rpm) << QVariant(-5.0) << false << QVariant(0.0);
    QTest::newRow("tpm 1000") << int(M::Tpm) << QVariant(1000) << true << QVariant(1000.0);
    QTest::newRow("tpm negative") << int(M::Tpm) << QVariant(-1) << false << QVariant(60000.0);

    QTest::newRow("mif 1") << int(M::MaxInFlight) << QVariant(1) << true << QVariant(1);
    QTest::newRow("mif 100000") << int(M::MaxInFlight) << QVariant(100000) << true << QVariant(100000);
    QTest::newRow("mif 0") << int(M::MaxInFlight) << QVariant(0) << false << QVariant(32);
    QTest::newRow("mif 100001") << int(M::MaxInFlight) << QVariant(100001) << false << QVariant(32);
    QTest::newRow("mif 1.5") << int(M::MaxInFlight) << QVariant(1.5) << false << QVariant(32);

    const QVariant url(QStringLiteral("https://api.example.com/v1/messages"));
    QTest::newRow("url https") << int(M::Url) << QVariant(QStringLiteral("https://h.example/v1/messages"))
                               << true << QVariant(QStringLiteral("https://h.example/v1/messages"));
    QTest::newRow("url ftp") << int(M::Url) << QVariant(QStringLiteral("ftp://h.example/x")) << false << url;
    QTest::newRow("url no host") << int(M::Url) << QVariant(QStringLiteral("http://")) << false << url;
    QTest::newRow("url garbage") << int(M::Url) << QVariant(QStringLiteral("not a url")) << false << url;

    const QVariant name(QStringLiteral("alpha"));
    QTest::newRow("name new") << int(M::Name) << QVariant(QStringLiteral("gamma")) << true
                              << QVariant(QStringLiteral("gamma"));
    QTest::newRow("name trimmed") << int(M::Name) << QVariant(QStringLiteral(" gamma ")) << true
                                  << QVariant(QStringLiteral("gamma"));
    QTest::newRow("name empty") << int(M::Name) << QVariant(QString()) << false << name;
    QTest::newRow("name blank") << int(M::Name) << QVariant(QStringLiteral("   ")) << false << name;
    QTest::newRow("name duplicate") << int(M::Name) << QVariant(QStringLiteral("beta")) << false << name;

    QTest::newRow("provider openai") << int(M::Provider) << QVariant(QStringLiteral("openai")) << true
                                     << QVariant(QStringLiteral("openai"));
    QTest::newRow("provider case") << int(M::Provider) << QVariant(QStringLiteral("OpenAI")) << true
                                   << QVariant(QStringLiteral("openai"));
    QTest::newRow("provider unknown") << int(M::Provider) << QVariant(QStringLiteral("claude")) << false
                                      << QVariant(QStringLiteral("anthropic"));

    QTest::newRow("key env ok") << int(M::KeyEnv) << QVariant(QStringLiteral("OTHER_KEY")) << true
                                << QVariant(QStringLiteral("OTHER_KEY"));
    QTest::newRow("key env empty") << int(M::KeyEnv) << QVariant(QString()) << true << QVariant(QString());
    QTest::newRow("key env bad") << int(M::KeyEnv) << QVariant(QStringLiteral("1 BAD")) << false
                                 << QVariant(QStringLiteral("ALPHA_KEY"));

    QTest::newRow("live column") << int(M::Ok) << QVariant(5) << false << QVariant();
}

void tst_EndpointTableModel::setDataValidation()
{
    QFETCH(int, column);
    QFETCH(QVariant, value);
    QFETCH(bool, accepted);
    QFETCH(QVariant, after);

    const QModelIndex index = m_model->index(0, column);
    const QVariant before = index.data(Qt::EditRole);
    QSignalSpy changed(m_model.get(), &QAbstractItemModel::dataChanged);
    QCOMPARE(m_model->setData(index, value, Qt::EditRole), accepted);
    QCOMPARE(index.data(Qt::EditRole), after);
    if (accepted && before == after) {
        QCOMPARE(changed.count(), 0); // the same value again: accepted quietly
    } else if (accepted) {
        QVERIFY(changed.count() >= 1);
        const QModelIndex topLeft = changed.first().at(0).toModelIndex();
        const QModelIndex bottomRight = changed.first().at(1).toModelIndex();
        QVERIFY(topLeft.row() == 0 && bottomRight.row() == 0);
        bool covered = false;
        for (const QList<QVariant> &args : changed) {
            covered = covered || (args.at(0).toModelIndex().column() <= column &&
                                  args.at(1).toModelIndex().column() >= column);
        }
        QVERIFY(covered);
    } else {
        QCOMPARE(changed.count(), 0);
    }
    // The other row never changes.
    QCOMPARE(m_model->endpoints().at(1).name, QStringLiteral("beta"));
}

void tst_EndpointTableModel::urlChangeReinfersInferredProvider()
{
    using M = EndpointTableModel;
    // Row 1: openai, inferred from a chat-completions URL: follows the URL.
    QSignalSpy changed(m_model.get(), &QAbstractItemModel::dataChanged);
    QVERIFY(
        m_model->setData(m_model->index(1, M::Url), QStringLiteral("https://api.anthropic.com/v1/messages")));
    QCOMPARE(m_model->index(1, M::Provider).data().toString(), QStringLiteral("anthropic"));
    QCOMPARE(changed.count(), 1);
    QCOMPARE(changed.at(0).at(0).toModelIndex().column(), int(M::Url));
    QCOMPARE(changed.at(0).at(1).toModelIndex().column(), int(M::Provider));

    // An explicitly chosen provider that differs from the inference is kept.
    QVERIFY(m_model->setData(m_model->index(1, M::Url),
                             QStringLiteral("https://gw.example/v1/chat/completions")));
    QCOMPARE(m_model->index(1, M::Provider).data().toString(), QStringLiteral("openai"));
    QVERIFY(m_model->setData(m_model->index(1, M::Provider), QStringLiteral("anthropic")));
    QVERIFY(m_model->setData(m_model->index(1, M::Url),
                             QStringLiteral("https://gw2.example/v1/chat/completions")));
    QCOMPARE(m_model->index(1, M::Provider).data().toString(), QStringLiteral("anthropic"));
}

void tst_EndpointTableModel::runningFlags()
{
    using M = EndpointTableModel;
    const QList<int> config = {M::Name, M::Url, M::Provider, M::KeyEnv, M::Model};
    const QList<int> tunable = {M::Weight, M::Rpm, M::Tpm, M::MaxInFlight};
    const QList<int> live = {M::State, M::InFlight, M::Ok, M::RateLimited, M::Errors, M::P50, M::Limit};

    for (bool running : {false, true}) {
        m_model->setRunning(running);
        QCOMPARE(m_model->isRunning(), running);
        for (int c : config) {
            QCOMPARE(bool(m_model->index(0, c).flags() & Qt::ItemIsEditable), !running);
        }
        for (int c : tunable) {
            QVERIFY(m_model->index(0, c).flags() & Qt::ItemIsEditable);
        }
        for (int c : live) {
            QVERIFY(!(m_model->index(0, c).flags() & Qt::ItemIsEditable));
        }
        QVERIFY(m_model->index(0, M::Enabled).flags() & Qt::ItemIsUserCheckable);
    }
    QVERIFY(!m_model->setData(m_model->index(0, M::Name), QStringLiteral("gamma")));
    QCOMPARE(m_model->index(0, M::Name).data().toString(), QStringLiteral("alpha"));
    QVERIFY(m_model->setData(m_model->index(0, M::Rpm), 600.0));
}

void tst_EndpointTableModel::liveEditOnlyWhileRunning()
{
    using M = EndpointTableModel;
    QSignalSpy live(m_model.get(), &EndpointTableModel::liveEditRequested);

    QVERIFY(m_model->setData(m_model->index(0, M::Weight), 4.0));
    QCOMPARE(live.count(), 0);

    m_model->setRunning(true);
    QVERIFY(m_model->setData(m_model->index(1, M::Weight), 6.0));
    QCOMPARE(live.count(), 1);
    QCOMPARE(live.at(0).at(0).toInt(), 1);
    const auto endpoint = live.at(0).at(1).value<EndpointConfig>();
    QCOMPARE(endpoint.name, QStringLiteral("beta"));
    QCOMPARE(endpoint.weight, 6.0);

    // Same value again: accepted, nothing to forward. Bad value: nothing either.
    QVERIFY(m_model->setData(m_model->index(1, M::Weight), 6.0));
    QVERIFY(!m_model->setData(m_model->index(1, M::Weight), -2.0));
    QCOMPARE(live.count(), 1);

    QVERIFY(m_model->setData(m_model->index(1, M::MaxInFlight), 8));
    QCOMPARE(live.count(), 2);
    QCOMPARE(live.at(1).at(1).value<EndpointConfig>().maxInFlight, 8);

    QVERIFY(m_model->setData(m_model->index(1, M::Enabled), int(Qt::Unchecked), Qt::CheckStateRole));
    QCOMPARE(live.count(), 3);
    QCOMPARE(live.at(2).at(1).value<EndpointConfig>().weight, 0.0);

    m_model->setRunning(false);
    QVERIFY(m_model->setData(m_model->index(1, M::Rpm), 30.0));
    QCOMPARE(live.count(), 3);
}

void tst_EndpointTableModel::enabledToggleStoresAndRestoresWeight()
{
    using M = EndpointTableModel;
    const QModelIndex enabled = m_model->index(0, M::Enabled);
    QSignalSpy changed(m_model.get(), &QAbstractItemModel::dataChanged);

    QVERIFY(m_model->setData(enabled, int(Qt::Unchecked), Qt::CheckStateRole));
    QCOMPARE(enabled.data(Qt::CheckStateRole).toInt(), int(Qt::Unchecked));
    QCOMPARE(m_model->index(0, M::Weight).data(Qt::EditRole).toDouble(), 0.0);
    QCOMPARE(m_model->endpoints().at(0).weight, 0.0);
    QCOMPARE(changed.count(), 2); // Enabled and Weight cells

    QVERIFY(m_model->setData(enabled, int(Qt::Checked), Qt::CheckStateRole));
    QCOMPARE(enabled.data(Qt::CheckStateRole).toInt(), int(Qt::Checked));
    QCOMPARE(m_model->endpoints().at(0).weight, 2.5);

    // EditRole with a bool works too; a bogus check state is refused.
    QVERIFY(m_model->setData(enabled, false, Qt::EditRole));
    QCOMPARE(m_model->endpoints().at(0).weight, 0.0);
    QVERIFY(m_model->setData(enabled, true, Qt::EditRole));
    QCOMPARE(m_model->endpoints().at(0).weight, 2.5);
    QVERIFY(!m_model->setData(enabled, 7, Qt::CheckStateRole));
}

void tst_EndpointTableModel::weightZeroUnchecksEnabled()
{
    using M = EndpointTableModel;
    QSignalSpy changed(m_model.get(), &QAbstractItemModel::dataChanged);
    QVERIFY(m_model->setData(m_model->index(0, M::Weight), 0.0));
    QCOMPARE(m_model->index(0, M::Enabled).data(Qt::CheckStateRole).toInt(), int(Qt::Unchecked));
    bool enabledSignalled = false;
    for (const QList<QVariant> &args : changed) {
        enabledSignalled = enabledSignalled || args.at(0).toModelIndex().column() == M::Enabled;
    }
    QVERIFY(enabledSignalled);
    // Re-checking restores the last positive weight.
    QVERIFY(m_model->setData(m_model->index(0, M::Enabled), int(Qt::Checked), Qt::CheckStateRole));
    QCOMPARE(m_model->endpoints().at(0).weight, 2.5);

    // A change that keeps the weight positive does not touch Enabled.
    changed.clear();
    QVERIFY(m_model->setData(m_model->index(0, M::Weight), 3.0));
    QCOMPARE(changed.count(), 1);
    QCOMPARE(changed.at(0).at(0).toModelIndex().column(), int(M::Weight));
}

void tst_EndpointTableModel::snapshotSignalsOnlyChangedCells()
{
    using M = EndpointTableModel;
    QSignalSpy changed(m_model.get(), &QAbstractItemModel::dataChanged);
    const MetricsSnapshot first = snapshot();
    m_model->applySnapshot(first);
    QVERIFY(changed.count() > 0);
    for (const QList<QVariant> &args : changed) {
        QVERIFY(args.at(0).toModelIndex().column() >= M::State);
        QCOMPARE(args.at(0).toModelIndex().row(), args.at(1).toModelIndex().row());
    }

    changed.clear();
    m_model->applySnapshot(first);
    QCOMPARE(changed.count(), 0);

    // One cell.
    MetricsSnapshot second = first;
    second.endpoints[1].ok = 8;
    m_model->applySnapshot(second);
    QCOMPARE(changed.count(), 1);
    QCOMPARE(changed.at(0).at(0).toModelIndex(), m_model->index(1, M::Ok));
    QCOMPARE(changed.at(0).at(1).toModelIndex(), m_model->index(1, M::Ok));
    QCOMPARE(m_model->index(1, M::Ok).data().toString(), QStringLiteral("8"));

    // Two adjacent cells: one range; a separate cell: a second range.
    changed.clear();
    MetricsSnapshot third = second;
    third.endpoints[0].inFlight = 5;
    third.endpoints[0].ok = 1300;
    third.endpoints[0].p50Ms = 60;
    m_model->applySnapshot(third);
    QCOMPARE(changed.count(), 2);
    QCOMPARE(changed.at(0).at(0).toModelIndex(), m_model->index(0, M::InFlight));
    QCOMPARE(changed.at(0).at(1).toModelIndex(), m_model->index(0, M::Ok));
    QCOMPARE(changed.at(1).at(0).toModelIndex(), m_model->index(0, M::P50));
    QCOMPARE(changed.at(1).at(1).toModelIndex(), m_model->index(0, M::P50));

    // A change invisible at display precision is not signalled.
    changed.clear();
    MetricsSnapshot fourth = third;
    fourth.endpoints[0].p50Ms = 60.2;
    m_model->applySnapshot(fourth);
    QCOMPARE(changed.count(), 0);
}

void tst_EndpointTableModel::snapshotSizeMismatch()
{
    using M = EndpointTableModel;
    MetricsSnapshot bigger = snapshot();
    bigger.endpoints.append(bigger.endpoints.first());
    m_model->applySnapshot(bigger);
    QCOMPARE(m_model->rowCount(), 2);

    MetricsSnapshot smaller;
    EndpointStats only;
    only.state = EndpointState::Probing;
    smaller.endpoints = {only};
    m_model->applySnapshot(smaller);
    QCOMPARE(m_model->index(0, M::State).data().toString(), QStringLiteral("probing"));
    QCOMPARE(m_model->index(1, M::State).data().toString(), QStringLiteral("active"));
}

void tst_EndpointTableModel::clearStats()
{
    using M = EndpointTableModel;
    m_model->applySnapshot(snapshot());
    QSignalSpy changed(m_model.get(), &QAbstractItemModel::dataChanged);
    m_model->clearStats();
    QCOMPARE(changed.count(), 1);
    QCOMPARE(m_model->index(0, M::State).data().toString(), QString());
    m_model->clearStats();
    QCOMPARE(changed.count(), 1);
}

void tst_EndpointTableModel::addDuplicateRemove()
{
    using M = EndpointTableModel;
    QSignalSpy inserted(m_model.get(), &QAbstractItemModel::rowsInserted);
    QSignalSpy removed(m_model.get(), &QAbstractItemModel::rowsRemoved);

    const int row = m_model->addEndpoint();
    QCOMPARE(row, 2);
    QCOMPARE(inserted.count(), 1);
    const EndpointConfig added = m_model->endpoints().at(row);
    QCOMPARE(added.name, QStringLiteral("endpoint-3"));
    QCOMPARE(added.url, QUrl(QStringLiteral("http://127.0.0.1:8000/v1/chat/completions")));
    QVERIFY(added.provider == Provider::OpenAI);
    QCOMPARE(added.weight, 1.0);
    QCOMPARE(added.maxInFlight, 64);

    // endpoint-4 is taken by a rename: the next one skips it.
    QVERIFY(m_model->setData(m_model->index(0, M::Name), QStringLiteral("endpoint-4")));
    const int next = m_model->addEndpoint();
    QCOMPARE(m_model->endpoints().at(next).name, QStringLiteral("endpoint-5"));
    QVERIFY(m_model->setData(m_model->index(0, M::Name), QStringLiteral("alpha")));

    const int copy = m_model->duplicateEndpoint(0);
    QCOMPARE(copy, 1);
    QCOMPARE(m_model->endpoints().at(1).name, QStringLiteral("alpha-copy"));
    QCOMPARE(m_model->endpoints().at(1).url, m_model->endpoints().at(0).url);
    QCOMPARE(m_model->endpoints().at(1).weight, 2.5);
    QCOMPARE(m_model->endpoints().at(2).name, QStringLiteral("beta"));
    const int copy2 = m_model->duplicateEndpoint(0); // next to its source
    QCOMPARE(copy2, 1);
    QCOMPARE(m_model->endpoints().at(copy2).name, QStringLiteral("alpha-copy-2"));
    const int copy3 = m_model->duplicateEndpoint(1); // a copy of a copy
    QCOMPARE(copy3, 2);
    QCOMPARE(m_model->endpoints().at(copy3).name, QStringLiteral("alpha-copy-3"));
    QCOMPARE(m_model->duplicateEndpoint(99), -1);
    QCOMPARE(m_model->rowCount(), 7);

    QVERIFY(m_model->removeEndpoint(0));
    QCOMPARE(removed.count(), 1);
    QCOMPARE(m_model->rowCount(), 6);
    QCOMPARE(m_model->index(0, M::Name).data().toString(), QStringLiteral("alpha-copy-2"));
    QVERIFY(!m_model->removeEndpoint(6));
    QVERIFY(!m_model->removeEndpoint(-1));
}

void tst_EndpointTableModel::rowOperationsRefusedWhileRunning()
{
    m_model->setRunning(true);
    QCOMPARE(m_model->addEndpoint(), -1);
    QCOMPARE(m_model->duplicateEndpoint(0), -1);
    QVERIFY(!m_model->removeEndpoint(0));
    QCOMPARE(m_model->rowCount(), 2);
}

QTEST_GUILESS_MAIN(tst_EndpointTableModel)
#include "tst_endpointtablemodel.moc"
