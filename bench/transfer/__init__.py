"""bench/transfer: importing a large Mailchimp audience export."""
