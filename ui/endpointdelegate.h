#pragma once

#include <QStyledItemDelegate>

namespace Sluice::Gui {

/// Editors of the endpoints table: a line edit for text and numbers (so any value can be typed, and a
/// refused one is explained by the model instead of being clamped by a spin box's range), a combo box
/// for the provider. What is typed goes to the model as text; EndpointTableModel validates it.
class EndpointDelegate : public QStyledItemDelegate
{
    Q_OBJECT

public:
    using QStyledItemDelegate::QStyledItemDelegate;

    QWidget *createEditor(QWidget *parent, const QStyleOptionViewItem &option,
                          const QModelIndex &index) const override;
    void setEditorData(QWidget *editor, const QModelIndex &index) const override;
    void setModelData(QWidget *editor, QAbstractItemModel *model, const QModelIndex &index) const override;
};

} // namespace Sluice::Gui
