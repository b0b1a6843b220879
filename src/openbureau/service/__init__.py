"""The bureau service: API and pages for people, lenders and auditors."""
