"""Text understanding for the customer-service chatbot: MiniLM encoder, intent classifier with out-of-scope
detection, entity extraction and hybrid (dense + BM25) FAQ retrieval. No Django here."""
