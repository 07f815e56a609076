"""The structure's integration platform (PFI): its applicative mailbox read over IMAP, the documents
integrated by qualified INS or put on the worklist, the MDNs sent back over SMTP."""
