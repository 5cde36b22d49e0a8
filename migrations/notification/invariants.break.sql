-- Breaks invariant 8 for confirmed order $1, to show the auditor catches it (chaos suite).
delete from notification.notices where order_id = $1
