"""The sandbox owner's administration of the house (issue 21 §1): one set of acts, reached by
`maison admin …` and by `/admin` over HTTP, every act in the audit trail."""
