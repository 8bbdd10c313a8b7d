// The OS keychain through the real Secret Service: run under tests/ui/with-keyring.sh, which starts
// a private D-Bus session and an unlocked gnome-keyring for the test.
#include "engine/engine.h"
#include "io/runfiles.h"
#include "keystore.h"
#include "mainwindow.h"
#include "models/endpointtablemodel.h"
#include "runfixture.h"
#include "sim/simulator.h"

#include <QApplication>
#include <QFile>
#include <QPlainTextEdit>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QUuid>

using namespace Sluice;
using namespace Sluice::Gui;
using json = nlohmann::json;

class tst_KeyStore : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void storesReadsAndRemoves();
    void engineFallsBackToTheEnvironment();
    void windowRunUsesTheKeychainKey();

private:
    static QByteArray freshKey()
    {
        return "sk-keychain-" + QUuid::createUuid().toByteArray(QUuid::WithoutBraces);
    }
};

void tst_KeyStore::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setApplicationName(QStringLiteral("sluice-tests"));
    if (qEnvironmentVariableIsEmpty("DBUS_SESSION_BUS_ADDRESS")) {
        QFAIL("no D-Bus session: run this test through tests/ui/with-keyring.sh");
    }
}

void tst_KeyStore::storesReadsAndRemoves()
{
    const KeyStore store;
    QCOMPARE(store.service(), QStringLiteral("sluice"));
    const QString endpoint =
        QStringLiteral("keystore-test-") + QUuid::createUuid().toString(QUuid::WithoutBraces);
    const QByteArray key = freshKey();
    QString error;
    QVERIFY(store.read(endpoint, &error).isEmpty()); // nothing stored yet
    QVERIFY2(store.store(endpoint, key, &error), qPrintable(error));
    QCOMPARE(store.read(endpoint, &error), key);
    // Storing again replaces the key.
    const QByteArray second = freshKey();
    QVERIFY2(store.store(endpoint, second, &error), qPrintable(error));
    QCOMPARE(store.read(endpoint), second);
    QVERIFY2(store.remove(endpoint, &error), qPrintable(error));
    QVERIFY(store.read(endpoint).isEmpty());
    QVERIFY2(store.remove(endpoint, &error), qPrintable(error)); // removing nothing is fine
}

void tst_KeyStore::engineFallsBackToTheEnvironment()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString requests = dir.filePath(QStringLiteral("in.jsonl"));
    QVERIFY(Test::writeJsonl(requests, {Test::promptLine(QStringLiteral("a"), QStringLiteral("hi"))}));
    ProjectConfig project;
    EndpointConfig e =
        EndpointConfig::fromUrl(QUrl(QStringLiteral("http://127.0.0.1:9/v1/chat/completions")), 0);
    e.apiKeyEnv = QStringLiteral("SLUICE_TEST_UNSET_KEY_VARIABLE");
    qunsetenv("SLUICE_TEST_UNSET_KEY_VARIABLE");
    project.endpoints = {e};
    RunOptions options;
    options.requestsPath = requests;
    options.outPath = dir.filePath(QStringLiteral("out.jsonl"));
    // Neither a supplied key nor the variable: the usual error.
    Engine without(project, options);
    const auto failed = without.start();
    QVERIFY(!failed);
    QVERIFY2(failed.error().message.contains(
                 QStringLiteral("SLUICE_TEST_UNSET_KEY_VARIABLE (api_key_env) is not set")),
             qPrintable(failed.error().message));
    // A supplied key for that endpoint name is enough.
    options.apiKeys.insert(e.name, freshKey());
    Engine with(project, options);
    QVERIFY(with.start());
    with.abort();
}

void tst_KeyStore::windowRunUsesTheKeychainKey()
{
    const QByteArray key = freshKey();
    SimulatorConfig config;
    config.latencyMs = 2;
    config.requireKey = QString::fromUtf8(key);
    Simulator sim(config);
    QVERIFY(sim.listen());

    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QList<json> lines;
    for (int i = 1; i <= 40; ++i) {
        lines.append(Test::promptLine(QStringLiteral("k%1").arg(i), QStringLiteral("keychain %1").arg(i)));
    }
    const QString requests = dir.filePath(QStringLiteral("keys.jsonl"));
    QVERIFY(Test::writeJsonl(requests, lines));

    MainWindow window;
    EndpointConfig e = EndpointConfig::fromUrl(sim.chatUrl(), 0);
    e.name = QStringLiteral("keychain-run-") + QUuid::createUuid().toString(QUuid::WithoutBraces);
    e.apiKeyEnv = QStringLiteral("SLUICE_TEST_KEYCHAIN_ONLY_KEY");
    qunsetenv("SLUICE_TEST_KEYCHAIN_ONLY_KEY"); // the key exists only in the keychain
    window.endpointModel()->setEndpoints({e});
    QString error;
    QVERIFY2(window.storeApiKey(e.name, key, &error), qPrintable(error));
    QCOMPARE(KeyStore().read(e.name), key);

    QSignalSpy preflight(&window, &MainWindow::preflightFinished);
    QVERIFY(window.openRequests(requests));
    QVERIFY(preflight.wait(10000));
    QSignalSpy finished(&window, &MainWindow::runFinished);
    window.run();
    QVERIFY(finished.wait(30000));
    QCOMPARE(window.lastSnapshot().succeeded, 40);
    QCOMPARE(sim.stats().ok, 40);

    const QString project = dir.filePath(QStringLiteral("project.json"));
    QVERIFY(window.saveProject(project));
    const QStringList outputs = {window.resultsPath(), window.errorsPath(),
                                 RunFiles::journalPathFor(window.resultsPath()), project};
    for (const QString &path : outputs) {
        QFile file(path);
        if (!file.open(QIODevice::ReadOnly)) {
            QVERIFY2(path != window.resultsPath() && path != project, qPrintable(path));
            continue; // no errors file or journal left behind: nothing to leak
        }
        QVERIFY2(!file.readAll().contains(key), qPrintable(path + QStringLiteral(" holds the key")));
    }
    QCOMPARE(Test::readJsonl(window.resultsPath()).size(), 40);
    QFile saved(project);
    QVERIFY(saved.open(QIODevice::ReadOnly));
    QVERIFY(saved.readAll().contains("SLUICE_TEST_KEYCHAIN_ONLY_KEY")); // the variable name, not the key
    for (const QPlainTextEdit *log : window.findChildren<QPlainTextEdit *>()) {
        QVERIFY(!log->toPlainText().contains(QString::fromUtf8(key)));
    }

    QVERIFY2(window.forgetApiKey(e.name, &error), qPrintable(error));
    QVERIFY(KeyStore().read(e.name).isEmpty());
}

QTEST_MAIN(tst_KeyStore)
#include "tst_keystore.moc"
